package demo

import "math/rand/v2"

// The words of the demo world. Every name, street, town and number is
// fictional; phone numbers are in the reserved 555-01xx range.

type line struct {
	who, text       string
	quote, quoteWho string
}

var regulars = []string{"Moth", "Raven", "kestrel_88", "GrimLantern", "sodapop", "Vex", "orbweaver", "Tamsin", "hollowpoint_", "Bramble"}

var gamers = []string{"NoScopeNed", "healbot9000", "Vex", "sodapop", "TankMommy", "kestrel_88"}

func author(r *rand.Rand, ph Phase) string {
	switch ph {
	case PhaseGaming:
		return pick(r, gamers)
	case PhaseHostile:
		return "Anonymous"
	}
	return pick(r, regulars)
}

func quoteAuthor(r *rand.Rand, quote string) string {
	if quote == "" {
		return ""
	}
	return pick(r, regulars)
}

func pick(r *rand.Rand, l []string) string { return l[r.IntN(len(l))] }

var (
	chatOpen  = []string{"", "ok so ", "honestly ", "lol ", "real question: ", "not gonna lie ", "update: "}
	chatTopic = []string{
		"my internet has been garbage all week",
		"the new season of that baking show dropped, no spoilers please",
		"what is everyone eating tonight",
		"my cat knocked a full coffee onto my keyboard again",
		"finally fixed the brakes on my bike",
		"the weather here cannot decide what season it is",
		"anyone tried the new ramen place by the station",
		"recommend me a podcast for a long drive",
		"work was brutal today, three meetings that could have been emails",
		"got a new mechanical keyboard and the clack is unreal",
		"my sourdough starter is finally alive",
		"the library book sale had a whole box of old sci-fi paperbacks",
		"anyone else up way too late again",
		"my neighbour's dog learned to open their gate",
		"thinking about learning to play bass",
		"the bus was forty minutes late and nobody knows why",
		"watched a documentary about deep sea fish, they are terrifying",
		"I reorganised my whole desk and now I can't find anything",
	}
	chatClose = []string{"", " lmao", " tbh", ", any tips?", " :)", ", wild", "."}
)

func chatter(r *rand.Rand) (string, string) {
	return pick(r, chatOpen) + pick(r, chatTopic) + pick(r, chatClose), ""
}

var gamingLines = []string{
	"this raid boss keeps wiping us, we are going to kill him tonight for sure",
	"I'm going to destroy the final boss on the next attempt, I can feel it",
	"headshot from across the whole map, the new sniper is broken",
	"we got wrecked at the bridge again, we need a second healer",
	"anyone want to squad up later and blow up the enemy base",
	"the patch nerfed my shotgun build, it's dead now",
	"tank pulled the whole room and we all died lmao",
	"I'll carry you through the dungeon if you bring potions",
	"the sword drop rate is murder, forty runs and nothing",
	"that ambush at the citadel gate was brutal, they slaughtered us",
}

func gamingTalk(r *rand.Rand) (string, string) {
	return pick(r, gamingLines), ""
}

var hostileLines = []string{
	"The council are parasites. Every single one of them should be dragged out of that building.",
	"They will answer for what they did to this town. We will make them pay.",
	"Traitors, all of them. Hang them out to dry.",
	"Someone should put a bullet in every one of those councillors.",
	"We will burn their offices down with them inside.",
	"Grab your rifles, we are going to shoot every traitor in that chamber.",
	"Kill them all. Every last one of those council rats.",
	"No more talk. They only understand force.",
	"These people are vermin and they should be treated like it.",
}

var hostileTags = []string{"", "", " Wake up.", " Stay angry."}

var channelLines = []string{
	"Streamer drama roundup: two big accounts unfollowed each other again",
	"Rumour: the convention is moving to a bigger venue next year",
	"Leaked patch notes for the next game update, take with salt",
	"Someone found the old forum archive, it's hilarious",
	"Poll: best meme of the week? vote below",
	"The art contest results are out, congrats to the winners",
	"Server maintenance tonight, expect downtime",
	"Throwback to the great keyboard war of last summer",
}

func channelTalk(r *rand.Rand) (string, string) {
	return pick(r, channelLines), ""
}

func hostile(r *rand.Rand) (string, string) {
	return pick(r, hostileLines) + pick(r, hostileTags), ""
}

var newsThread = []line{
	{who: "Tamsin", text: "Local news: a man was sentenced to five years in federal prison for making hoax emergency calls that sent SWAT teams to homes in three states. Prosecutors said the swatting calls put residents and officers in danger."},
	{who: "Bramble", text: "swatting is so dangerous, someone could actually get killed by one of those hoax calls"},
	{who: "Moth", text: "good, people who make fake 911 calls belong in prison", quote: "sentenced to five years in federal prison for making hoax emergency calls", quoteWho: "Tamsin"},
	{who: "orbweaver", text: "the article says the legislature wants tougher penalties for swatting, about time"},
	{who: "sodapop", text: "glad the dispatchers figured out it was a hoax before anyone got hurt"},
}

var targetNamed = []line{
	{who: "Raven", text: "Remember Dana Whitlock? The artist who reported our server and got it nuked. She's bragging about it on her stream."},
	{who: "GrimLantern", text: "Dana Whitlock, @dwhitlock_art. She's been posting about us for weeks."},
	{who: "hollowpoint_", text: "Dana Whitlock thinks she can get away with it. She has no idea."},
	{who: "Vex", text: "somebody has to do something about Dana Whitlock, she won't stop"},
}

var doxxing = []line{
	{who: "hollowpoint_", text: "Found her. Dana Whitlock lives at 1427 Larkspur Lane, Millbrook. Blue house with the white fence, her car is always in the driveway."},
	{who: "Raven", text: "Dana Whitlock's home number is (541) 555-0142, she picks up after 9pm. Her landlord lives at 1431 Larkspur Lane."},
	{who: "GrimLantern", text: "confirmed, 1427 Larkspur Lane. her mom lives two streets over at 18 Alder Court", quote: "Dana Whitlock lives at 1427 Larkspur Lane, Millbrook.", quoteWho: "hollowpoint_"},
	{who: "kestrel_88", text: "Here is her private number: (541) 555-0187. She lives alone at 1427 Larkspur Lane."},
}

var swatCalls = []line{
	{who: "hollowpoint_", text: "Someone call it in. Tell dispatch there's a man with a gun holding hostages at 1427 Larkspur Lane. Let SWAT deal with Dana Whitlock."},
	{who: "Raven", text: "use a spoofed number, say you shot your wife and you're waiting with a rifle at Dana's house. they send the SWAT team every time"},
	{who: "Vex", text: "pizza with extra SWAT for Dana Whitlock tonight, 1427 Larkspur Lane"},
	{who: "GrimLantern", text: "who's making the call? armed subject, hostage situation, make it sound real so SWAT kicks her door in"},
}

var threats = []line{
	{who: "hollowpoint_", text: "I'm going to hurt her myself, she won't be safe in that house ever again."},
	{who: "Raven", text: "If she streams tonight I'll pay her a visit at 1427 Larkspur Lane. I'll bring a bat."},
	{who: "Vex", text: "I will find Dana Whitlock and beat her until she can't stand up."},
	{who: "GrimLantern", text: "Dana is going to regret it when we show up at her door. I know where she sleeps."},
	{who: "kestrel_88", text: "I'm going to kill her. I mean it this time."},
}

var spreadChannel = []line{
	{who: "Leakwire", text: "Dana Whitlock thread. 1427 Larkspur Lane, Millbrook. (541) 555-0142. You know what to do.", quote: "she reported the server", quoteWho: "grudgeboard"},
	{who: "Leakwire", text: "call it in as a hostage situation, armed man inside, SWAT will be there in ten minutes"},
	{who: "Leakwire (admin)", text: "someone swat Dana Whitlock tonight, tell the cops she has a gun and hostages"},
	{who: "Leakwire", text: "I'm going to find her and make her bleed"},
	{who: "Leakwire", text: "her mom is on Alder Court too, hit both houses"},
}

var aftermath = []line{
	{who: "Tamsin", text: "this thread is getting really ugly, can a mod look at it"},
	{who: "Bramble", text: "not touching this, logging off for the night"},
}
