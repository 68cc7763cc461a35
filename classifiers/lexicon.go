package classifiers

import (
	"strings"
)

// cue is one group of phrases in the lexicon: a kind of thing a post says
// ("first-person intent", "harm verb", "false emergency"...). Features
// combine cues by sentence; evidence spans name them.
type cue uint8

// The cue groups. Their phrase lists are in lexiconDefs; their names appear
// in evidence as span kinds when they carry a score.
const (
	cIntent cue = iota
	cHarmStrong
	cHarm
	cWeapon
	cIncite
	cInciteStrong
	cVeiled
	cIf
	cTimePlace
	cYou
	cThird
	cAllOf
	cNegation
	cCondemn
	cMeta
	cFiction
	cGame
	cSport
	cFigurative
	cFigSelf
	cNews
	cHistory
	cAdvice
	cHunting
	cTech
	cInsult
	cDieWish
	cSwat
	cLiteralSwat
	cFalseReport
	cEmergency
	cPolice
	cCoded
	cSwatted
	cHypothetical
	cRelativeJob
	cBombThreat
	cLives
	cWork
	cRoutine
	cFamily
	cVehicle
	cRequest
	cFound
	cHarass
	cBusiness
	cSelling
	cSelf
	cPrivacyMeta
	cPublicRole
	cPraise
	cDropLabel
	// Pseudo-cues set from the PII extractors, so sentences can combine
	// them with lexicon cues.
	cPIIAddress
	cPIIStreet
	cPIIPhone
	cPIIEmail
	cPIIOther
	cPIIStrong
	cNamed
	numCues
)

// lexiconDefs lists the phrases of each cue. A phrase is words separated by
// spaces, phrases by "|"; "a/b" in a slot is an alternative, "*" any one
// word, a leading "?" makes the slot optional. A one-word phrase ending in
// ":" is a field label ("addy:"), matched only before a colon. Phrases are matched on normalized tokens, so
// they are written in lower case with apostrophes ("i'll").
var lexiconDefs = []struct {
	c       cue
	phrases string
}{
	{cIntent, `i'll|ill|i will|i shall|i'd|i would|i wanna|i want to|i plan to|i intend to|imma|i'mma|ima|i'm/im gonna|i'm/im going to|i am going to|i am gonna|gonna|going to|gon|we'll|we will|we're/were gonna|we're/were going to|we are going to|we gonna|i'm/im coming|i'm/im bringing|i'm/im visiting|i'm/im gonna be|i swear|i promise|i can't/cant wait to|i'll/ill be|next time|you're gonna|you are going to|you're going to`},
	{cHarmStrong, `punch * in the face|punch * * in the face|punch you in the face|set * * on fire|set * * * on fire|break every bone|make them bleed|make him bleed|make her bleed|make you bleed|put my fist through|beat the hell out of|beat the shit out of|beat the crap out of|beat the life out of|knock * teeth out|knock your teeth|bury you|bury him|bury her|skin you|skin him|cave * skull|bash * skull|rip * throat|shoot * in the|stab * in the|end you|cut you open|cut * open|feed you to|gets stabbed|get stabbed|gets shot|get shot|burning * down|burning * * down|burn * * alive|kill|kil|killing|murder|murdering|shoot|shooting|stab|stabbing|slit|strangle|lynch|lynched|rape|behead|execute|slaughter|butcher|torture|maim|massacre|gut|hang|hanged|decapitate|dismember|break his/her/your/their/ur legs/neck/kneecaps/arms/jaw|break * legs|break * neck|beat * senseless|beat * to death|beat * half to death|burn * down|burn * * down|burn * * * down|burn down|set * on fire|set fire|run * over|blow * brains out|blow * head off|put * in the ground|put * in a body bag|six feet under|end * life|shoot up|bash * head in|cave * head in|curb stomp|curbstomp|slaughtered|murdered|killed|stabbed|shot|bomb|firebomb|molotov|acid`},
	{cHarm, `hurt|hurting|harm|beat|beating|beats|punch|punching|punched|breaking|broke|stomping|kicking|dragging|smashing|bashing|fist|fist through|make them bleed|make him bleed|make her bleed|jump|jumped|grab|drag|smash|bash|choke|choking|strangled|destroy|crush|cut|hit|stomp|kick|bleed|suffer|pay|regret|beat up|beat * up|rough * up|mess * up|fuck * up|f * up|deal with|take care of|take * out|put * down|get * hands on|jumped|burn|burning|torch|fire|teach * a lesson|hunt * down|go after|come after|coming after|finish|end|break|brakes|wreck|scream|grab you|hurt you|visit|visiting|show up|pay * a visit`},
	{cWeapon, `gun|guns|pistol|rifle|ar|ar15|ar-15|shotgun|knife|knives|crowbar|bat|baseball bat|machete|bullet|bullets|ammo|glock|gasoline|gas can|molotov|acid|rope|noose|hammer|axe|piece|strap|9mm|.45|firearm|weapon|weapons|tire iron|brass knuckles`},
	{cIncite, `round up|round them up|gets 200|gets 500|gets 100|bucks from me|from me if|i'll pay|whoever|they should|y'all need to|you should all|whoever does|someone/somebody/sb/somone should|someone/somebody needs to|someone/somebody has to|someone/somebody ought to|someone/somebody oughta|someone's/somebody's gotta|someone/somebody go|someone/somebody better|go make|whoever finds|whoever gets|whoever catches|first one to|first person to|we should|we need to|y'all/yall should|you guys should|everyone should|everybody should|let's/lets go|let's/lets|bring friends|bring a|i'll/ill venmo|venmo you|i'll/ill pay|will pay|paying|bounty|reward for|make * regret|make * pay|every last one|start with|wait for her/him/them|round * up|string * up|hunt * down|go get|get him/her/them|grab her/him|make him/her regret|go visit|pay her/him a visit|teach him/her/them a lesson|show him/her what|do something about`},
	{cInciteStrong, `deserves/deserve to bleed|deserves/deserve to be hanged/hung/shot/killed/beaten/burned/stabbed/lynched/executed/strangled|should be burned/beaten/stabbed/strung/gutted|burned alive|burn * alive|burn them alive|want him/her/you/them dead|i want * dead|whoever does it|storm the|drive my truck into|drive into the|run them over|run * over|how many i can hit|we start shooting|start shooting|open fire|string up|they should string|hang every|hang all|deserves to die|deserve to die|deserves to be shot|deserves to get shot|deserves to be hurt|deserves to hang|deserves a bullet|should be shot|should be killed|should be hanged|should be hung|should be lynched|should be executed|should be put down|should get shot|needs to die|need to die|needs to be shot|needs to be put down|put * out of * misery|put a bullet|lynch|burn them all|kill them all|kill em all|kill all|wipe * out|exterminate|gas them|hang them|hang him|hang her|string * up|line * up against|someone should * kill|someone should * shoot|someone should * hurt|someone should * stab|someone needs to * kill|someone needs to * shoot|break his legs|break her legs|snap * neck|go make him regret|go make her regret|bring a crowbar|bring the crowbar|doesn't leave the building|won't leave the building|won't be walking anywhere|nobody would even report|nobody would report|wait for her|wait for him`},
	{cVeiled, `in a wheelchair|put/putting * in the hospital|put/putting * in a wheelchair|put you in a wheelchair|put you in the hospital|like hospitals|where you're going|won't be breathing|wont be breathing|stop breathing|sleep well tonight|think you're safe|you're not safe|youre not safe|found your address|found where you live|i know where your kids|be breathing|waiting outside|be waiting for|i'll be waiting|ill be waiting|go up in flames|went up in flames|counting the days|until we meet|when we meet|we meet in person|finds out what happens|find out what happens|you'll already be dead|you'll be dead|you're dead|youre dead|ur dead|you are dead|dead meat|it's a promise|its a promise|that's a promise|thats a promise|not a threat|see how tough|your last day|your last days|your last breath|your last words|your last moments|your last night|your last weekend|be your last|i know ur|i know your|won't make it to|wont make it to|won't make it home|won't survive|wont survive|get what's coming|gets what's coming|what's coming to|deserves what's coming|think about your kids|think about your family|good insurance|have insurance|one push|all it takes|won't walk away|not walk away|nobody leaves|no one leaves|won't know what hit|accidents happen|accident happens|would be a shame if|be a shame if|would be tragic if|be tragic if|would be terrible if|has no idea what's coming|no idea what's coming|no idea whats coming|what's coming|whats coming|know where you live|know where * lives|i know which|i know where|know your address|watch your back|watch your step|sleep with one eye open|won't be walking|wont be walking|won't be walking anywhere|doesn't leave|won't leave|dont leave|nobody will hear|no one will hear|maybe me|keeping a list|keep a list|i have a list|visiting each of you|visit each of you|caught fire|catch fire|won't have working brakes|working brakes|you won't like what happens|you wont like what happens|won't like what happens|you'll regret|you will regret|you'll be sorry|you better hope|you'd better hope|better hope|better watch|you have 24 hours|you have 48 hours|days are numbered|enjoy your last|matter of time|won't see it coming|when you least expect|hope you have insurance|nice house you|nice family you|be a shame if something|something happens to|something bad happens|i'd hate for|lights out|getting jumped|he's getting jumped|she's getting jumped|coming for you|coming for him|coming for her|coming to your house|coming to your|i'm coming to|im coming to|i will find you|i'll find you|ill find you|i know what car|hope we never meet|never meet irl|you're next|ur next|you are next|mark the date|mark my words|it's coming|won't be so tough|won't be laughing|grease fires happen|fires happen|one day someone`},
	{cIf, `if|unless|next time|the moment|the second|when this|once|when i find/catch/see/get|as soon as i find/catch/see/get|the day i find/catch/see`},
	{cTimePlace, `tonight|tomorrow|tmrw|friday|saturday|sunday|monday|tuesday|wednesday|thursday|this weekend|next week|after school|your house|your home|your door|your work|your job|your car|parking lot|garage|in front of everyone|town hall|the meeting|board meeting|irl|in person|outside|on your way|at your`},
	{cYou, `you|your|u|ur|ya|yours|you're|youre|y'all|yall`},
	{cThird, `she|her|he|him|his|hers|she's|he's|shes|hes|them|they|their|this guy|that guy|this girl|that girl|that woman|that man|the guy|the girl`},
	{cAllOf, `all of them|every last|each of you|every one of|all of you|all the|every single|everyone who|everybody who|them all|em all`},
	{cNegation, `nobody should|no one should|noone should|not saying|i'm not saying|im not saying|never|don't|dont|do not|shouldn't|should not|wouldn't|would never|not going to|not gonna|isn't|is not|aren't|no one|nobody|not|can't believe|cant believe|stop|wasn't|didn't|never would`},
	{cCondemn, `report|reported|reporting|screenshots|screenshot|screenshotted|police are aware|called the police|contacted the police|reported it to|reported to|told the police|fbi|tip line|not a joke|aren't a joke|isn't funny|nothing funny|not funny|disgusting|insane|unacceptable|leave her alone|leave him alone|leave them alone|condemn|no place|is wrong|that's wrong|sick|gross|vile|horrible|awful|terrible|trust & safety|trust and safety|blocked|block|harassment|harassing|victim|victims|evidence|saved the messages|authorities|lawyer|restraining order|stay safe|dangerous|scary|messed up|fucked up|not okay|not ok|sad|heartbreaking|tragic|ban|banned|bannable|rule|rules`},
	{cMeta, `threat|threats|threatening|threatened|threaten|threatens|violence|violent|doxxing|doxing|swatting|harassment|death threats|hate speech|incitement`},
	{cFiction, `novel|book|books|chapter|story|stories|movie|movies|film|films|show|episode|season|series|character|characters|villain|hero|protagonist|plot|scene|fiction|fanfic|script|screenplay|writing|prompt|audiobook|comic|manga|anime|tv|netflix|documentary|podcast|true crime|play|theater|theatre|actor|actress|detective|thriller|horror|poem|lyrics|song|album|rap|verse|roleplay|rp|dnd|d&d|campaign|dungeon|sequel|trailer|cinema|author|writer|killer`},
	{cGame, `game|games|gaming|gamer|boss|raid|level|map|patch|npc|npcs|quest|respawn|pvp|pve|fps|mmo|rogue|healer|tank|build|rage quit|ragequit|xbox|playstation|ps5|ps4|steam|fortnite|minecraft|cod|call of duty|ready or not|elden ring|lobby|noob|noobs|loot|spawn|server|match|gg|ranked|clan|guild|zombies|zombie|dragon|dragons|mobs|character|session|party|player|players|assassinated|assassinate|the king|wanted level|gta|halo|valorant|csgo|cs2|overwatch|apex|tarkov|headshot|headshots|sniper|campaign|chess`},
	{cSport, `team|teams|game|match|season|defense|defence|offense|playoffs|playoff|coach|score|goal|league|tournament|win|won|beat them|crush|destroy|finals|opponent|opponents|field|pitch|hawks|tigers|eagles|lions|bears|rivals|rival|fans|stadium|tailgate|tailgating|hockey|football|soccer|basketball|baseball|rugby|cricket|golf|tennis|boxing|ufc|mma|fight night|knockout|ko|inning|quarterback|touchdown|fixture|race|marathon|10k|5k`},
	{cFigurative, `shoot some hoops|shoot some pool|shoot pool|shoot the breeze|shoot some photos|shoot a video|beat you at|beat him at|beat her at|beat them at|beat me at|kill/killing/beat/destroy/crush/murder/smash/slay/wreck/nuke/kill/shoot this/the/that/my boss/raid/level/dungeon/game/exam/test/workout/interview/presentation/dragon/quest/run/lap/record/deadline/project/bug/process/task/mission/map/match/round/final/finals/course/playlist/set/song/track/mic/bottle/pizza/wings/burger|killed it|killing it|kill it|killed that|crushed it|killing me|dying|died laughing|i'm dead|im dead|i died|literally died|murdered it|murdered that|slayed|slay|destroyed me|to death|bored to death|scared to death|absolute carnage|no survivors|carnage|break a leg|kill time|killing time|killer app|killer deal|killer feature|killer view|the bomb|da bomb|bombed|bombed the|shoot me a|shoot me an|shoot an email|shoot a message|shoot a text|photo shoot|photoshoot|shoot hoops|shooting hoops|take a shot|shot of|shots of|murder mystery|killer sale|dead tired|dead serious|deadass|die of|die laughing|kill for a|would kill for|kills it|slaps|fire 🔥|lit|to die for|dying to|murder her son|shoot for|shoot your shot|blew up|blowing up|exploded|destroyed the|knocked it out|knock it out|beat your record|kill the lights|kill the engine|kill the music|killed the|kill the vibe|killed the vibe|kill the process|kill the task|bomb of|photobomb|bathbomb|bath bomb|smash that|smash the like|hit me up|hit the gym|hit the road|hit up|hurt my|hurts|hurt so|heartbroken|rip|destroy this|beating myself|beat myself|my mom is going to kill me|my dad is going to kill me|gonna kill me|going to kill me|will kill me|would kill me|kill me now|shoot me now|just shoot me`},
	{cFigSelf, `kill me|killed me|kills me|killing me|shoot me|murder me|kill myself|hurt myself|me dead|the death of me`},
	{cNews, `paper|newspaper|the paper reported|was arrested|were arrested|testified|reported|police found|by mistake|wrong house|wrong address|did a piece|a piece on|family who|news|reported that|according to|sentenced|sentencing|charged|arrested|police said|officials|authorities said|judge|court|trial|pleaded|prosecutors|investigation|investigating|article|headline|journalist|reporter|breaking|study|survey|legislation|bill|law|laws|lawmakers|council voted|senator|policy|press release|statement|announced|local news|the news|new law|convicted|indicted|jail|prison|years in prison|fined|police chief|apologized|hoax callers|federal|charges|cnn|bbc|fox|reuters|ap news|nyt|times|post reported|reports say|report says`},
	{cHistory, `history|historical|historically|century|1920s|1930s|1940s|1950s|1960s|1970s|1980s|1990s|ww1|ww2|wwi|wwii|world war|the war|war|battle|museum|exhibit|ancient|medieval|revolution|grandpa's|grandfather|veterans|veteran|civil war|outlaws|outlaw|bonnie and clyde|jesse james|columbine|massacre at|in 18|in 19|back in|years ago|decades ago|era|empire|roman|romans|vikings|soldiers`},
	{cAdvice, `if you see|if you hear|if you ever|if you get|if someone|if anyone|call 911|call the police|call police|call the cops|stay away|stay safe|save the evidence|document everything|don't try|report it|report them|report the|hang up|scam|scams|heads up|be careful|keep pets inside|lock your doors|safety|tip|tips|advice|recommend|please|make sure|stay inside|don't go|dont go|should i|what should|anyone know if|does anyone know|is it legal|how do i|how do you|protect|protective|prevent|prevention|hotline|resources|support`},
	{cHunting, `hunting|hunt|hunter|deer|pheasant|elk|duck|ducks|geese|turkey season|bagged|my limit|sight in|scope|range|the range|target practice|skeet|clay|clays|bow|archery|buck|doe|game warden|tag|tags|license|rifle season|fishing|fish|trout|bass`},
	{cTech, `process|processes|port|server|npm|node|daemon|command|terminal|bug|bugs|code|compile|kill -9|killall|sigkill|sigterm|task manager|pid|thread|threads|container|docker|kubernetes|pod|pods|linux|bash|shell|script|cron|restart|reboot|app|database|query|git|commit|branch|merge|deploy|python|java|golang|rust|api`},
	{cInsult, `fuck|fucking|fucker|fuckin|shit|shitty|idiot|idiots|stupid|moron|morons|bitch|bitches|ass|asshole|dumb|dumbass|retard|retarded|loser|losers|pathetic|scum|trash|garbage|pig|cunt|dick|dickhead|bastard|jerk|clown|clowns|fool|hypocrite|nazi|nazis|troll|vandal|vandalism|suck|sucks|cock|whore|slut|fag|faggot|gay|wanker|prick|twat|stfu|gtfo|shut up|piss|pissed|crap|damn|hell|hate|hater`},
	{cDieWish, `die|dies|died|death|dead|kys|kill yourself|hope you die|hope he dies|hope she dies|go die|drop dead|rot in hell|burn in hell|rot|cancer|hope you get|wish you were dead|should die|die in a fire|neck yourself|rope yourself`},
	{cSwat, `swat|swatted|swatting|swats|swatter|swat team|swat unit|swatting him|swatting her`},
	{cLiteralSwat, `fly|flies|mosquito|mosquitoes|bug|bugs|wasp|wasps|bee|bees|gnat|gnats|dog|cat|kitten|puppy|toddler|baby|paw|swatted away|swat away|swatting at|swatted at|ball|the ball|hand away`},
	{cFalseReport, `told them|told dispatch|told 911|told the cops|told the police|tell the sheriff|called the sheriff|call the sheriff|call in|called in|calling in|call it in|phone in|phone it in|report a|report an|tell dispatch|tell the cops|tell the police|tell 911|tell them|tell police|say he's|say she's|say there's|say he|say she|say her|say his|say that|saying he|saying she|saying there|claim he|claim she|claim there|hoax|fake call|false report|fake report|prank call|did the call|made the call|make the call|the call|place a call|report of|reports of|caller states|caller said|call the|call pd|call the pd|ring the`},
	{cEmergency, `murder-suicide|murder suicide|murder|shots fired|armed robbery|robbery|home invasion|rifle|bleeding|meth lab|gunpoint|at gunpoint|hostage|hostages|holding * hostage|gun to her head|gun to his head|gun to * head|barricaded|barricade|armed|with a gun|has a gun|got a gun|has guns|guns ready|with a shotgun|shotgun|an ar|with an ar|shooting|shot his|shot her|active shooter|bomb|bomb threat|bombs|explosives|explosive|pipe bomb|domestic|domestic with a firearm|domestic violence|firearm|suicidal|killed his|killed her|murdered his|murdered her|shoot up|shooting up|gas leak|wellness check|welfare check|stabbed|dead body|bodies|shots fired|hostage situation|kidnapped|kidnapping|threatening to shoot|going to shoot|meth lab|fire`},
	{cPolice, `police|cops|cop|sheriff|sheriff's|pd|911|999|112|dispatch|dispatcher|dispatchers|tactical|swat|fbi|cruisers|cruiser|armored truck|armoured|officers|officer|units|feds|emergency services|non-emergency|nonemergency|law enforcement|deputies|troopers|police department`},
	{cCoded, `tactical delivery|delivery combo|swat delivery|got him swatted|got her swatted|get him swatted|get her swatted|bought every word|bought it|swats|swat combo|combo meal|swat meal|tactical pizza|pizza delivery|pizza with extra|extra swat|swat speedrun|wellness check speedrun|speedrun|🚓|🚔|🚨|🔫|🍕|taking requests|new burner|burner|burner phone|spoof|spoofed|spoofing|voip|caller id|they bought it|enjoy the show|tune in|should be fun|is rolling|are rolling|door go down|door goes down|kicked in|kicking * door|kick * door in|kicking * door in|door kicked|special delivery|go go go|order * the swat|send * the swat|send the swat|send swat|swat him|swat her|swat them|swat that|swat this|swat the|swat his|swat jolene|swat treatment|swatted again|swat * tonight|get * swatted|getting swatted|gets swatted|swatted tonight`},
	{cSwatted, `confirmed|it was her address|it was his address|cops showed up|police showed up|swat showed up|officers surrounded|surrounded the house|dragged him out|dragged her out|got him swatted|got her swatted|got swatted|was swatted|were swatted|been swatted|just swatted|swatted her|swatted him|swatted them|they swatted|confirmed swat|swat on|cops had her|cops had him|on the ground|three cruisers|cruisers outside|outside her building|outside his building|tactical is rolling|did the call|round two|armored truck outside|door go down|raided|raid on|got raided`},
	{cHypothetical, `hypothetically|if a person were to|if someone were to|if somebody were to|asking for a friend|how fast do you think|how fast would|how long would it take|how long until|what would happen if|theoretically|just curious`},
	{cRelativeJob, `my brother is|my sister is|my cousin is|my aunt|my uncle|my dad is|my mom is|my friend is|my wife is|my husband is|works as a|is a swat|swat medic|swat officer|swat training|training|dispatcher for|years as a|retired cop|former cop|my cousin|my aunt did|still talks about`},
	{cBombThreat, `calling in a bomb|call in a bomb|report a bomb|bomb at|bomb threat|bomb threats|call in a bomb|phone in a bomb|pipe bomb|there's a bomb|there is a bomb|planted a bomb|bomb in the`},
	{cLives, `her unit|his unit|the unit|unit faces|houses down|house down|lives at|lives in|lives on|lives above|lives by|lives near|lives with|lives upstairs|lives close|living at|living in|is living|living these days|moved to|her house|his house|her home|his home|their house|their home|her place|his place|her apartment|his apartment|her apt|his apt|her flat|his flat|her condo|his condo|her address|his address|home address|actual home|home is|addy|apartment|apartments|apt|floor|upstairs|the house with|house with the|lake house|the last place|the last house|driveway|front door|backyard|fence|balcony|window|lease|stays at|staying at|hides|2nd floor|second floor|3rd floor|split-level|trampoline|blue house|white house|green shutters|cul-de-sac|two doors down|doors down|next to the|across from|her building|his building|her street|his street|her neighborhood|his neighborhood|the apartments by|complex|where she lives|where he lives|where they live`},
	{cWork, `employer is|manager's name|boss's name|her employer|his employer|works at|works for|works in|works as|works:|work:|her job|his job|her work|his work|her shift|his shift|shift|gets off|clocks out|employer|work email|workplace|where she works|where he works|she's a|he's a|she is a|he is a|substitute teacher|teacher at|nurse at|tech at|manager at|cashier at|barista at|kitchen at|office at|her office|his office|her boss|his boss|her coworkers|his coworkers|job at|working at|works nights|night shift|day shift`},
	{cRoutine, `lets out at|picks him up|picks her up|walks her dog|walks his dog|every day|every night|every morning|every evening|every saturday|every sunday|every monday|every tuesday|every wednesday|every thursday|every friday|every weekend|every week|on saturdays|on sundays|on weekdays|on weekends|weekends|most nights|parks|parks on|parks at|parks in|parks near|walks to|walks home|walks her|walks his|runs the same|same route|route|leaves at|leaves for|gets home|alone|by herself|by himself|pickup at|pick up at|picks up|drops off|till 2am|until 2am|schedule|strava|gym at|her gym|his gym|usually|always|at 7am|at 6am|at 8am|at 11pm|at 3:15|at 6|ends at|every|loop|commute|bus stop|the bus`},
	{cFamily, `kid goes to|kids go to|son goes to|daughter goes to|goes to * elementary|goes to * school|picks him up|picks her up|lets out at|her kid|her kids|his kid|his kids|her son|his son|her daughter|his daughter|her husband|his wife|her bf|her boyfriend|his gf|his girlfriend|her mom|his mom|her mother|his mother|her dad|his dad|her father|his father|her sister|his sister|her brother|his brother|her parents|his parents|their son|their daughter|their kids|grandma|grandkids|family|bf:|gf:|dad:|mom:|wife:|husband:|kid's|kids:|sister:|class photo|grade|2nd grade|elementary|middle school|high school|daycare|school|her child|his child|wife|husband|son|daughter|kid`},
	{cVehicle, `drives a|drives the|drives his|drives her|car:|her car|his car|her truck|his truck|plate|plates|license plate|licence plate|tag number|prius|tacoma|minivan|hatchback|sedan|bumper sticker|civic|camry|corolla|f-150|f150|jeep|tesla|honda|toyota|ford|chevy|bmw|audi|vehicle`},
	{cRequest, `who has the address|has the address|the address for|address of the|home address of|pull up|current address|current number|account name|pull the account|look up her|look up his|know where * lives|know where * * lives|where * lives now|where * * lives now|where * is now|where * lives|anyone got|anyone have|anyone has|anyone know|anyone knows|anybody got|anybody have|anybody know|anybody knows|does anyone have|does anybody have|who has her|who has his|who's got|whos got|need her|need his|need the|looking for her|looking for his|where she lives|where he lives|where she's living|where he's living|is living these days|find her|find him|find where|find out where|get her plate|get his plate|get her address|get his address|get her number|get his number|dig up|dox|doxx|dox her|dox him|need the account address|someone local confirm|local confirm|confirm|can someone|can somebody|drive past|drive by|make it worth your while|drop her|drop his|post her|post his|what's her|what's his|whats her|whats his|her new number|his new number|the new number|new number|her number|his number|her addy|his addy|her info|his info|anyone in here|anyone near|someone near|anyone from|in the area|look her up|look him up|run her plate|run his plate|pull her|pull his|who can find|someone must have seen|must have seen`},
	{cFound, `new address is|her new address|his new address|her new place|his new place|her email|his email|her work email|his work email|her phone|his phone|her cell|his cell|her ip|his ip|her plate|his plate|social security number|social security|ssn|birthday|home phone|her venmo|his venmo|found where|found his|found her|found the|figured out|got his full name|got her full name|got his|got her|it's on|it is on|bingo|in the leak|leaked|leak|registry|shipping address|phone book|directory|obituary|public records|whitepages|paypal|receipt|exif|geolocate|geolocated|geolocation|reverse image|you can see|tagged|compiling everything|compiled|full name|real name|irl name|alt account|alt|info:|dox:|name:|age:|dob:|ssn:|ip:|addy:|phone:|cell:|email:|address:|school:|lives:|still listed|listed under|old directory|spotify|strava|her strava|his strava|venmo|cashapp|linkedin|facebook|instagram|her facebook|his facebook|her instagram|posts everything|same curtains|in his streams|in her streams|you can see it|you can see the`},
	{cHarass, `text her|text him|call her|call him|ask for her|ask for him|ask for her by name|tell her what you think|tell him what you think|let her know|let him know|try it|show up|send her|send him|flood her|flood his|spam her|spam his|give her a call|give him a call|pay her a visit|pay him a visit|have fun|go wild|do your thing|you know what to do|make it worth|put you through|ring her|ring him|email her|email him|message her|message him|dm her|dm him|harass|go say hi|say hi|drop by|swing by|visit her|visit him`},
	{cBusiness, `office|offices|shop|store|restaurant|bakery|cafe|café|clinic|hospital|market|farmers market|food truck|fairgrounds|venue|city hall|town hall|courthouse|library|museum|shelter|isd|school district|department|agency|hours|open|opens|closed|reservations|menu|parking|sign-up|sign up|public comment|main office|front desk|customer service|hotline|headquarters|hq|business|company|realty|firm|church|arena|stadium|trailhead|campus|brunch|lobster|burgers|follow us|our location|location|locations|visit us|come by|stop by|open house|listing|appointments|booking|book now|website|call us|contact us|storefront|downtown|plaza|municipal|mall|gym|studio|salon|dealership|warehouse|registration|event|events|festival|fair|club|meeting|meetings|meetup`},
	{cSelling, `text * at|call * at|asking price|firm|cash|venmo|paypal|shipping|ships|local pickup|delivery available|selling|for sale|sale|obo|pickup only|pick up only|price|asking|rent|roommate|roommates|hiring|garage sale|yard sale|moving sale|estate sale|offer|offers|cash only|venmo or cash|shipping included|free to a good home|pet free|smoke free|new in box|barely used|condition|$|per month|/mo|a month|deposit|lease available|available now|dm me|pm me|inquiries|serious buyers`},
	{cSelf, `i'm|im|we're|i'll|ill|we'll|my number|my cell|my phone|text me|call me|reach me|contact me|my email|email me|dm me|pm me|message me|my address|my own|my home|my house|my place|my apartment|my car|my plate|my license|my license plate|i live|i moved|we meet|we'll be|we will be|our|we're|my name is|i'm * from|hit me up|find me at|come see me|my shop|my store|my office|my business|my|i|me|mine|myself|we|us`},
	{cPrivacyMeta, `doxxing|doxing|privacy|private|data breach|breach|opt out|opt-out|people-search|people search|scrub|scrubbing|delete|don't post|do not post|please don't|not allowed|consent|sue|lawyer|scam|what counts as|is doxxing|that's doxxing|thats doxxing|rule 4|rule|rules|mods|moderator|keep yourself safe|protect yourself|online safety|op sec|opsec`},
	{cPublicRole, `council member|councilmember|councilman|councilwoman|mayor|senator|governor|official|officials|congressman|congresswoman|representative|ceo|spokesperson|celebrity|public figure|commissioner|sheriff|police chief|superintendent|principal|president|minister|mp|judge|politician|candidate`},
	{cPraise, `congrats|congratulations|great job|amazing|recommend|recommendation|thank|thanks|thank you|keep going|keep it up|gorgeous|love|loved|awesome|so deserved|well done|proud|best|favorite|favourite|kudos|shoutout|shout out|award|won|winner|beautiful|wonderful|fantastic|great|excellent|helpful|kind|sweet|congratulate`},
	{cDropLabel, `addy:|phone:|works:|dob:|ssn:|ip:|name:|age:|address:|school:|email:|cell:|lives:|car:|plate:|bf:|gf:|dad:|mom:|sister:|brother:|wife:|husband:|job:|work:|info:|socials:|kids:|ph:|tel:|mob:|home:|employer:`},
}

// trieNode is one step of the multi-pattern matcher: phrases are sequences
// of tokens, so the matcher walks tokens, not bytes, and every phrase
// starting at a token is found in one walk.
type trieNode struct {
	next map[string]*trieNode
	any  *trieNode // "*": any one token
	cues []cue
}

func (n *trieNode) child(w string) *trieNode {
	if w == "*" {
		if n.any == nil {
			n.any = &trieNode{}
		}
		return n.any
	}
	if n.next == nil {
		n.next = map[string]*trieNode{}
	}
	c := n.next[w]
	if c == nil {
		c = &trieNode{}
		n.next[w] = c
	}
	return c
}

// lexicon is the compiled matcher. squeezed maps words with letter runs
// collapsed ("kil") to the lexicon's spelling, for "kiiiill".
type lexicon struct {
	root     trieNode
	squeezed map[string]string
	labels   map[string][]cue
	maxLen   int
}

// compileLexicon builds the trie from lexiconDefs.
func compileLexicon() *lexicon {
	lx := &lexicon{squeezed: map[string]string{}, labels: map[string][]cue{}}
	for _, d := range lexiconDefs {
		for _, phrase := range splitPhrases(d.phrases) {
			for _, seq := range expand(phrase) {
				lx.add(seq, d.c)
			}
		}
	}
	return lx
}

// splitPhrases splits a definition into phrases ("|" between them, no
// spaces around it) and each phrase into slots (space separated).
func splitPhrases(s string) [][]string {
	var out [][]string
	var cur []string
	for _, w := range strings.Fields(s) {
		parts := strings.Split(w, "|")
		for i, p := range parts {
			if p != "" {
				cur = append(cur, p)
			}
			if i < len(parts)-1 && len(cur) > 0 {
				out = append(out, cur)
				cur = nil
			}
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// expand turns a phrase with optional slots ("?x") and slot alternatives
// ("a/b") into plain token sequences.
func expand(phrase []string) [][]string {
	seqs := [][]string{nil}
	for _, slot := range phrase {
		optional := strings.HasPrefix(slot, "?") && len(slot) > 1
		slot = strings.TrimPrefix(slot, "?")
		alts := strings.Split(slot, "/")
		var next [][]string
		for _, s := range seqs {
			if optional {
				next = append(next, append([]string(nil), s...))
			}
			for _, a := range alts {
				next = append(next, append(append([]string(nil), s...), a))
			}
		}
		seqs = next
	}
	return seqs
}

func (lx *lexicon) add(seq []string, c cue) {
	if len(seq) == 0 {
		return
	}
	if len(seq) == 1 && strings.HasSuffix(seq[0], ":") && len(seq[0]) > 1 {
		w := strings.TrimSuffix(seq[0], ":")
		lx.labels[w] = append(lx.labels[w], c)
		return
	}
	seq = cleanWords(seq)
	if len(seq) == 0 {
		return
	}
	n := &lx.root
	for _, w := range seq {
		if w != "*" {
			if sq := squeeze(w); sq != w {
				lx.squeezed[sq] = w
			}
		}
		n = n.child(w)
	}
	for _, have := range n.cues {
		if have == c {
			return
		}
	}
	n.cues = append(n.cues, c)
	lx.maxLen = max(lx.maxLen, len(seq))
}

// squeeze collapses runs of the same letter: "kiiiill" and "kill" both
// become "kil".
func squeeze(w string) string {
	for i := 1; i < len(w); i++ {
		if w[i] == w[i-1] {
			b := make([]byte, 0, len(w))
			b = append(b, w[0])
			for j := 1; j < len(w); j++ {
				if w[j] != w[j-1] {
					b = append(b, w[j])
				}
			}
			return string(b)
		}
	}
	return w
}

func hasTripleRun(w string) bool {
	for i := 2; i < len(w); i++ {
		if w[i] == w[i-1] && w[i] == w[i-2] {
			return true
		}
	}
	return false
}

// hit is one lexicon match: tokens [from, to) said cue c.
type hit struct {
	c        cue
	from, to int32
}

// lookup finds the lexicon's spelling for a token: itself, or its squeezed
// form for stretched words.
func (lx *lexicon) lookup(n *trieNode, w string) *trieNode {
	if c := n.next[w]; c != nil {
		return c
	}
	if hasTripleRun(w) {
		if orig, ok := lx.squeezed[squeeze(w)]; ok {
			return n.next[orig]
		}
		return n.next[squeeze(w)]
	}
	if hasLeetTail(w) {
		return lx.lookupLeet(n, w)
	}
	return nil
}

// lookupIAsL tries a word whose original wrote a capital I inside it
// ("kilI"): the I may stand for an l, which it looks like in most fonts.
// Each i of the word is tried as either.
func (lx *lexicon) lookupIAsL(n *trieNode, w string) *trieNode {
	if len(w) > 12 {
		return nil
	}
	var buf [12]byte
	b := buf[:len(w)]
	copy(b, w)
	var at [4]int
	k := 0
	for i := range b {
		if b[i] == 'i' && k < len(at) {
			at[k] = i
			k++
		}
	}
	return lx.eitherIOrL(n, b, at[:k], false)
}

// eitherIOrL looks up b (at most 12 bytes) with each position of at read
// as an "i" or an "l", as it is and, when squeezed is set, with its runs
// of a letter squeezed ("stretched" words).
func (lx *lexicon) eitherIOrL(n *trieNode, b []byte, at []int, squeezed bool) *trieNode {
	var sqBuf [12]byte
	for mask := 0; mask < 1<<len(at); mask++ {
		for k, i := range at {
			b[i] = 'i'
			if mask&(1<<k) != 0 {
				b[i] = 'l'
			}
		}
		if c := n.next[string(b)]; c != nil {
			return c
		}
		if !squeezed {
			continue
		}
		sq := sqBuf[:0]
		for i := range b {
			if i == 0 || b[i] != b[i-1] {
				sq = append(sq, b[i])
			}
		}
		if orig, ok := lx.squeezed[string(sq)]; ok {
			if c := n.next[orig]; c != nil {
				return c
			}
		}
	}
	return nil
}

// hasLeetTail reports a word of letters that ends in characters standing
// for letters, which the tokenizer leaves as they are ("ki11", "ki||",
// "4ll" is another matter: it begins with one). Leet between letters
// ("k1ll") the tokenizer reads already. Checked in O(1) first: it runs on
// every word the lexicon misses.
func hasLeetTail(w string) bool {
	if len(w) < 3 || len(w) > 12 || !isLeet(w[len(w)-1]) && !isLeet(w[0]) {
		return false
	}
	letters, leet := 0, 0
	for i := 0; i < len(w); i++ {
		switch c := w[i]; {
		case 'a' <= c && c <= 'z':
			letters++
		case isLeet(c):
			leet++
		default:
			return false
		}
	}
	return letters >= 2 && leet > 0 && leet <= 4
}

// lookupLeet tries the spellings a word with leet characters may stand
// for: each "1", "|" or "!" as an "l" or an "i", the others as leetMap
// reads them.
func (lx *lexicon) lookupLeet(n *trieNode, w string) *trieNode {
	var amb [4]int
	na := 0
	var buf [12]byte // hasLeetTail bounds w to 12 bytes
	b := buf[:len(w)]
	copy(b, w)
	for i := range b {
		switch b[i] {
		case '1', '|', '!':
			amb[na] = i
			na++
		default:
			if m := leetMap[b[i]]; m != 0 {
				b[i] = m
			}
		}
	}
	return lx.eitherIOrL(n, b, amb[:na], true)
}

// match appends every phrase occurrence in toks to hits.
func (lx *lexicon) match(toks []token, hits []hit) []hit {
	var stack [16]*trieNode
	for i := range toks {
		front := append(stack[:0], &lx.root)
		for j := i; j < len(toks) && j-i < lx.maxLen && len(front) > 0; j++ {
			if toks[j].sent != toks[i].sent {
				break
			}
			var nextFront [16]*trieNode
			nf := nextFront[:0]
			for _, n := range front {
				c := lx.lookup(n, toks[j].s)
				if c == nil && toks[j].flags&tokCapI != 0 {
					c = lx.lookupIAsL(n, toks[j].s)
				}
				if c != nil {
					for _, cu := range c.cues {
						hits = append(hits, hit{c: cu, from: int32(i), to: int32(j + 1)})
					}
					if (c.next != nil || c.any != nil) && len(nf) < cap(nf) {
						nf = append(nf, c)
					}
				}
				if n.any != nil && j > i {
					c := n.any
					for _, cu := range c.cues {
						hits = append(hits, hit{c: cu, from: int32(i), to: int32(j + 1)})
					}
					if (c.next != nil || c.any != nil) && len(nf) < cap(nf) {
						nf = append(nf, c)
					}
				}
			}
			front = append(stack[:0], nf...)
		}
	}
	return hits
}

// cleanWords splits a phrase's words the way the tokenizer splits text
// ("sign-up" is two tokens, "&" none), so phrases match what tokenize makes.
func cleanWords(seq []string) []string {
	var out []string
	for _, w := range seq {
		if w == "" {
			continue
		}
		if w == "*" || w[0] >= 0x80 {
			out = append(out, w)
			continue
		}
		start := -1
		for i := 0; i <= len(w); i++ {
			if i < len(w) && (isWordByte(w[i]) || w[i] == '\'' && start >= 0) {
				if start < 0 {
					start = i
				}
				continue
			}
			if start >= 0 {
				out = append(out, strings.TrimRight(w[start:i], "'"))
				start = -1
			}
		}
	}
	return out
}
