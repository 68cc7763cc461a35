package classifiers

// What a harm verb is done to decides whether it is a threat: "kill her",
// "kill @dana", "kill Dana Reyes" and "kill that guy" name a person; "kill
// the final boss", "kill it" and "kill the lights" do not. Intent and harm
// cues alone fire equally on both, so the threat features read the words
// right after the verb.

import "strings"

// harmObject says what a harm verb is done to.
type harmObject uint8

const (
	objUnknown harmObject = iota
	objPerson
	objThing
)

// objectWindow is how many tokens after a harm verb may hold its object
// ("kill that stupid little streamer": four).
const objectWindow = 4

// personPronouns are object pronouns naming someone other than the author.
var personPronouns = map[string]bool{
	"him": true, "her": true, "them": true, "you": true, "u": true, "ya": true, "y'all": true, "yall": true,
	"ye": true, "youse": true, "em": true, "ur": true, "your": true, "his": true, "their": true,
}

// possessives are followed by the thing owned: "your family" is a person,
// "your character" is not.
var possessives = map[string]bool{"your": true, "ur": true, "his": true, "her": true, "their": true}

// personNouns name people (or insult them as nouns: "that bitch").
var personNouns = map[string]bool{
	"guy": true, "guys": true, "girl": true, "girls": true, "woman": true, "women": true, "man": true, "men": true,
	"dude": true, "bro": true, "person": true, "people": true, "everyone": true, "everybody": true, "kid": true,
	"kids": true, "child": true, "children": true, "baby": true, "family": true, "wife": true, "husband": true,
	"son": true, "daughter": true, "mom": true, "mother": true, "dad": true, "father": true, "brother": true,
	"sister": true, "parents": true, "boyfriend": true, "girlfriend": true, "bf": true, "gf": true, "ex": true,
	"neighbor": true, "neighbour": true, "neighbors": true, "streamer": true, "mod": true, "mods": true,
	"admin": true, "admins": true, "teacher": true, "cop": true, "cops": true, "officer": true, "landlord": true,
	"coworker": true, "manager": true, "judge": true, "mayor": true, "journalist": true, "reporter": true,
	"bitch": true, "bitches": true, "bastard": true, "bastards": true, "asshole": true, "assholes": true,
	"cunt": true, "whore": true, "slut": true, "prick": true, "idiot": true, "moron": true, "fucker": true,
	"motherfucker": true, "scumbag": true, "snitch": true, "rat": true, "traitor": true, "creep": true,
	"pervert": true, "freak": true, "loser": true, "clown": true, "twat": true, "dickhead": true, "jew": true,
	"jews": true, "muslims": true, "immigrants": true, "cousin": true, "grandma": true, "friend": true, "friends": true,
}

// thingNouns are objects of figurative, game, sport and everyday "killing".
var thingNouns = map[string]bool{
	"it": true, "its": true, "it's": true, "boss": true, "bosses": true, "level": true, "game": true,
	"games": true, "character": true, "char": true, "npc": true, "npcs": true, "mob": true, "mobs": true,
	"raid": true, "dungeon": true, "dragon": true, "zombie": true, "zombies": true, "quest": true, "run": true,
	"round": true, "match": true, "team": true, "lights": true, "light": true, "engine": true, "music": true,
	"vibe": true, "mood": true, "time": true, "process": true, "task": true, "bug": true, "bugs": true,
	"spider": true, "spiders": true, "roach": true, "roaches": true, "mosquito": true, "weeds": true, "fly": true,
	"flies": true, "wasp": true, "wasps": true, "ants": true, "mice": true, "battery": true, "deadline": true,
	"exam": true, "test": true, "interview": true, "presentation": true, "workout": true, "set": true, "song": true,
	"track": true, "crowd": true, "stage": true, "show": true, "audition": true, "competition": true, "record": true,
	"build": true, "meta": true, "server": true, "map": true, "final": true, "finals": true, "myself": true,
	"me": true, "yourself": true, "urself": true, "himself": true, "herself": true, "themselves": true,
	"buzz": true, "joke": true, "conversation": true, "thread": true, "deal": true, "plant": true, "plants": true,
	"pizza": true, "bottle": true, "beer": true, "wings": true, "leg": true, "legs": true, "day": true, "week": true,
}

// objectFillers may stand between a verb and its object.
var objectFillers = map[string]bool{
	"the": true, "that": true, "a": true, "an": true, "this": true, "those": true, "these": true, "some": true,
	"every": true, "all": true, "of": true, "fucking": true, "fuckin": true, "damn": true, "stupid": true,
	"little": true, "lil": true, "ol": true, "dumb": true, "whole": true, "off": true, "freaking": true,
	"frickin": true, "goddamn": true, "entire": true, "big": true, "fat": true, "ugly": true, "last": true,
	"bloody": true, "one": true, "two": true, "both": true, "my": true, "our": true,
}

// objectOf classifies the object of the harm hit h: the first person or
// thing word within objectWindow tokens after it, in the same sentence of
// the author's own words. A "*" inside the phrase ("beat * to death")
// holds the object, so the scan starts right after the verb's first word.
func (d *Document) objectOf(h hit) harmObject {
	first := d.toks[h.from]
	end := min(int(h.to)+objectWindow, len(d.toks))
	var game bool // a game word before a name: "the boss Malenia"
	for k := int(h.from) + 1; k < end; k++ {
		t := d.toks[k]
		if t.sent != first.sent || t.flags&tokQuoted != 0 {
			return objUnknown
		}
		w := t.s
		if d.handleAt(t) {
			return objPerson
		}
		if possessives[w] {
			// "her" alone is a person; "her character" is not.
			if k+1 < end && d.toks[k+1].sent == first.sent && thingNouns[d.toks[k+1].s] {
				return objThing
			}
			return objPerson
		}
		if personPronouns[w] && d.has(cGame) {
			// "the raid boss keeps wiping us, we'll kill him tonight": in a
			// post about a game a bare pronoun may be a character; leave it
			// to the model, which weighs the game context.
			return objUnknown
		}
		if personPronouns[w] || personNouns[w] {
			return objPerson
		}
		if thingNouns[w] {
			if w == "boss" && k > 0 && (d.toks[k-1].s == "my" || d.toks[k-1].s == "our") {
				return objUnknown // a manager, or a game: the model weighs the context
			}
			return objThing
		}
		if t.flags&tokCap != 0 && len(w) >= 2 && !notName[w] && !notName[trimPossessive(w)] {
			if game || k+1 < len(d.toks) && d.toks[k+1].sent == first.sent && thingNouns[d.toks[k+1].s] {
				return objThing
			}
			return objPerson
		}
		if objectFillers[w] || k < int(h.to) || len(w) > 2 && w[len(w)-2:] == "'s" {
			// "my mom's spider plant": the owner is not the object.
			continue
		}
		if gameWords[w] {
			game = true
			continue
		}
		// Any other word ("kill time", "shoot hoops", "kill 10 rats")
		// ends the object without a verdict.
		return objUnknown
	}
	return objUnknown
}

func trimPossessive(w string) string {
	if len(w) > 2 && w[len(w)-2:] == "'s" {
		return w[:len(w)-2]
	}
	return w
}

// gameWords may name the kind of a game character ("the boss Malenia",
// "raid boss", "final boss").
var gameWords = map[string]bool{"final": true, "raid": true, "world": true, "secret": true, "optional": true, "mini": true, "hidden": true}

// handleAt reports an @handle or u/name token.
func (d *Document) handleAt(t token) bool {
	s := d.norm.s
	if t.start > 0 && s[t.start-1] == '@' {
		return true
	}
	return t.start > 1 && s[t.start-1] == '/' && s[t.start-2] == 'u' && (t.start < 3 || !isWordByte(s[t.start-3]))
}

// hitNegated reports a negation ending at most two tokens before hit h, in
// its sentence and with no comma between ("I would never hurt her").
func (d *Document) hitNegated(h hit) bool {
	if sent := d.toks[h.from].sent; d.own[sent]&(1<<cNegation) == 0 && d.quoted[sent]&(1<<cNegation) == 0 {
		return false
	}
	for _, in := range d.byCue[cNegation] {
		n := d.hits[in]
		if n.from >= h.from {
			break
		}
		if n.to <= h.from && h.from-n.to <= 2 && d.toks[n.from].sent == d.toks[h.from].sent {
			return true
		}
	}
	return false
}

// harmAgainst finds an own, unnegated harm hit of one of cs whose object
// is obj. With intent, the hit must follow a first-person intent cue
// within six tokens that is not negated either.
func (d *Document) harmAgainst(obj harmObject, intent bool, cs ...cue) (bool, int, int) {
	for _, c := range cs {
		for _, ih := range d.byCue[c] {
			h := d.hits[ih]
			t := d.toks[h.from]
			if t.flags&tokQuoted != 0 || intent && d.own[t.sent]&(1<<cIntent) == 0 || d.hitNegated(h) || d.objectOf(h) != obj {
				continue
			}
			a := d.norm.orig(int(d.toks[h.from].start))
			if intent {
				found := false
				for _, ii := range d.byCue[cIntent] {
					in := d.hits[ii]
					if in.to > h.from {
						break
					}
					if (h.from-in.to <= 6 || d.coordinated(in.to, h.from)) && d.toks[in.from].sent == d.toks[h.from].sent && d.toks[in.from].flags&tokQuoted == 0 && !d.hitNegated(in) {
						found, a = true, d.norm.orig(int(d.toks[in.from].start))
						break
					}
				}
				if !found {
					continue
				}
			}
			end := min(int(h.to)+objectWindow, len(d.toks)) - 1
			for end > int(h.from) && d.toks[end].sent != d.toks[h.from].sent {
				end--
			}
			return true, a, d.norm.orig(int(d.toks[end].end))
		}
	}
	return false, -1, -1
}

// maxCoordinated bounds how far an intent carries through coordinated
// verb phrases.
const maxCoordinated = 20

// clauseBreaks end the reach of an intent: a contrast or a subordinate
// clause ("but", "because") has its own subject and mood; a subject
// pronoun other than the speaker's hands the clause to someone else; a
// verb of saying turns what follows into reported words.
var clauseBreaks = map[string]bool{
	"but": true, "because": true, "cause": true, "cuz": true, "so": true, "while": true, "if": true, "when": true,
	"until": true, "unless": true, "or": true, "though": true, "although": true, "since": true,
	"he": true, "she": true, "they": true, "it": true, "someone": true, "somebody": true, "nobody": true,
	// What the speaker will say is not what they will do: "I'll call the
	// police and say Kyle shot his roommate" reports, it does not threaten.
	"say": true, "says": true, "saying": true, "tell": true, "telling": true, "claim": true, "claiming": true,
	"report": true, "that": true,
}

// coordinated reports whether the tokens from..to (exclusive) are a chain
// of coordinated verb phrases that an intent before them carries through
// to the word at to: "going to find you, tie you up and then [kill]".
// Within six words an intent reaches anyway; past them, the gap must hold
// a coordination (a comma, "and", "then") and no clause break, and "you"
// right after a coordination is a new subject ("..., and you will").
func (d *Document) coordinated(from, to int32) bool {
	if to-from > maxCoordinated || to <= from {
		return false
	}
	coord, afterCoord := false, false
	for k := from; k < to; k++ {
		if k > from && strings.IndexByte(d.norm.s[d.toks[k-1].end:d.toks[k].start], ',') >= 0 {
			coord, afterCoord = true, true
		}
		switch s := d.toks[k].s; {
		case clauseBreaks[s]:
			return false
		case s == "and" || s == "then" || s == "&" || s == "n":
			coord, afterCoord = true, true
			continue
		case s == "you" && afterCoord:
			return false
		}
		afterCoord = false
	}
	if to > from && strings.IndexByte(d.norm.s[d.toks[to-1].end:d.toks[to].start], ',') >= 0 {
		coord = true
	}
	return coord
}
