// Package understand reads what customers type: text folded for matching
// (case, accents, punctuation and emoji variation selectors gone), edit
// distance scaled to word length, yes and no with their everyday variants,
// numbers and number words, the commands every bot knows, and a guess at
// the customer's language. English and Dutch.
//
// It knows nothing of conversations or options: package handlers builds
// its choice matching on it, and keeps this the only place the words
// live. It does no I/O.
package understand

import (
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Fold lower-cases s, removes accents, turns punctuation into spaces
// (keeping apostrophes inside words, digits and emoji) and collapses white
// space: "Café-Crème!" → "cafe creme".
func Fold(s string) string {
	folded := withoutAccents(s)
	var b strings.Builder
	rs := []rune(strings.ToLower(folded))
	for i, r := range rs {
		switch {
		case r == '\ufe0f' || r == '\u20e3' || r == '\u200d':
			// Variation selectors and keycap joiners: clients differ.
			if r == '\u20e3' {
				b.WriteRune(r)
			}
		case r == '\'' || r == '’':
			if i > 0 && i+1 < len(rs) && unicode.IsLetter(rs[i-1]) && unicode.IsLetter(rs[i+1]) {
				b.WriteRune('\'')
			} else {
				b.WriteRune(' ')
			}
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		case unicode.IsPunct(r) || unicode.IsSpace(r) || unicode.IsControl(r):
			// "1:30" and "1,5" keep their separator between digits.
			if (r == ':' || r == ',' || r == '.') && i > 0 && i+1 < len(rs) && unicode.IsDigit(rs[i-1]) && unicode.IsDigit(rs[i+1]) {
				b.WriteRune(r)
			} else {
				b.WriteRune(' ')
			}
		default:
			b.WriteRune(r) // emoji and symbols stay: 👍 means something
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// accentStrippers hold the transformers withoutAccents uses: a chain
// allocates its buffers (some 8 KB) when made, and Fold runs several
// times for every message a customer sends, so they are reused.
var accentStrippers = sync.Pool{New: func() any {
	return transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
}}

// withoutAccents returns s with its combining marks removed ("é" → "e").
// ASCII text has none and is returned as it is.
func withoutAccents(s string) string {
	if isASCII(s) {
		return s
	}
	t := accentStrippers.Get().(transform.Transformer)
	defer accentStrippers.Put(t)
	out, _, err := transform.String(t, s) // resets t first
	if err != nil {
		return s
	}
	return out
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// Words is Fold split into words.
func Words(s string) []string { return strings.Fields(Fold(s)) }

// Distance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and swaps of neighbours each
// count one ("meduim" is one from "medium").
func Distance(a, b string) int {
	x, y := []rune(a), []rune(b)
	d := make([][]int, len(x)+1)
	for i := range d {
		d[i] = make([]int, len(y)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(x); i++ {
		for j := 1; j <= len(y); j++ {
			cost := 1
			if x[i-1] == y[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && x[i-1] == y[j-2] && x[i-2] == y[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(x)][len(y)]
}

// MaxEdits is how many typos a word of n letters may have and still be
// recognised: none up to 2 letters, one up to 5, two up to 9, then three.
func MaxEdits(n int) int {
	switch {
	case n <= 2:
		return 0
	case n <= 5:
		return 1
	case n <= 9:
		return 2
	}
	return 3
}

// Close says whether typed is the word want with at most MaxEdits typos
// (scaled to the longer of the two). Digits must match exactly.
func Close(typed, want string) bool {
	if typed == want {
		return true
	}
	if hasDigit(typed) || hasDigit(want) {
		return false
	}
	n := max(len([]rune(typed)), len([]rune(want)))
	return Distance(typed, want) <= MaxEdits(n)
}

func hasDigit(s string) bool {
	return strings.IndexFunc(s, unicode.IsDigit) >= 0
}

// filler are words that carry no meaning in a short answer.
var filler = set("please", "pls", "plz", "thanks", "thank", "you", "thx", "ta", "the", "one", "just", "a", "an",
	"it", "its", "that", "this", "i", "i'll", "ill", "i'd", "id", "we", "we'll", "me", "my", "for", "do", "let's", "lets",
	"graag", "alsjeblieft", "alstublieft", "aub", "dank", "je", "u", "bedankt", "de", "het", "die", "maar", "dan", "doe", "maar",
	"oh", "ah", "uh", "um", "hmm", "well", "so")

// Meaningful drops filler words (politeness, articles) from words.
func Meaningful(words []string) []string {
	var out []string
	for _, w := range words {
		if !filler[w] {
			out = append(out, w)
		}
	}
	return out
}

// yesPhrases and noPhrases are whole answers; yesWords and noWords are
// first words that decide an answer ("yes thanks", "no, not yet").
var (
	yesPhrases = set("yes", "yes please", "yeah", "yea", "yep", "yup", "ya", "y", "ok", "okay", "okey", "k", "kk", "sure",
		"of course", "sure thing", "go ahead", "go for it", "do it", "confirm", "confirmed", "correct", "right", "that's right",
		"absolutely", "definitely", "please do", "alright", "all right", "fine", "good", "great", "perfect", "sounds good",
		"👍", "✅", "✔", "👌", "🙏", "👍🏻", "👍🏼", "👍🏽", "👍🏾", "👍🏿",
		"ja", "jawel", "jazeker", "ja hoor", "ja graag", "graag", "prima", "goed", "is goed", "oke", "oké", "doe maar", "zeker", "akkoord", "klopt", "top", "prima")
	noPhrases = set("no", "nope", "nah", "no thanks", "no thank you", "n", "not yet", "not now", "no wait", "wait", "hold on",
		"not really", "nothing", "none", "never mind", "nevermind", "don't", "dont", "negative", "no way",
		"👎", "❌", "✖", "🚫", "👎🏻", "👎🏼", "👎🏽", "👎🏾", "👎🏿",
		"nee", "neen", "nee dank je", "nee bedankt", "nog niet", "niet", "nee nog niet", "wacht", "liever niet", "niks", "niets")
	yesWords = set("yes", "yeah", "yep", "yup", "ok", "okay", "sure", "ja", "jawel", "graag", "prima", "👍", "✅", "absolutely", "definitely", "yess", "yesss")
	noWords  = set("no", "nope", "nah", "nee", "not", "👎", "❌", "niet")
)

// YesNo reads an answer to a yes/no question: ok is false when text is
// neither.
func YesNo(text string) (yes, ok bool) {
	f := Fold(text)
	if f == "" {
		return false, false
	}
	if yesPhrases[f] {
		return true, true
	}
	if noPhrases[f] {
		return false, true
	}
	w := strings.Fields(f)
	if noWords[w[0]] {
		return false, true
	}
	if yesWords[w[0]] {
		// "yes but not now" is not a yes.
		for _, x := range w[1:] {
			if x == "not" || x == "but" || x == "niet" || x == "maar" {
				return false, false
			}
		}
		return true, true
	}
	// A typo in a one-word yes: "yess", "yse". Three letters are too few
	// to tell "yet" from "yes", so there only swapped letters count.
	if len(w) == 1 && len([]rune(f)) >= 3 {
		for p := range yesWords {
			if strings.ContainsFunc(p, isSymbol) || !Close(f, p) {
				continue
			}
			if len([]rune(f)) > 3 || sameLetters(f, p) {
				return true, true
			}
		}
	}
	return false, false
}

func sameLetters(a, b string) bool {
	count := map[rune]int{}
	for _, r := range a {
		count[r]++
	}
	for _, r := range b {
		count[r]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}

func isSymbol(r rune) bool { return !unicode.IsLetter(r) }

var (
	numberWords = map[string]int{
		"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
		"ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
		"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10,
		"last": -1,
		"nul":  0, "een": 1, "één": 1, "twee": 2, "drie": 3, "vier": 4, "vijf": 5, "zes": 6, "zeven": 7, "acht": 8, "negen": 9,
		"tien": 10, "elf": 11, "twaalf": 12, "vijftien": 15, "twintig": 20,
		"eerste": 1, "tweede": 2, "derde": 3, "vierde": 4, "vijfde": 5, "zesde": 6, "zevende": 7, "achtste": 8, "negende": 9, "tiende": 10,
		"laatste": -1,
	}
	keycaps = []string{"0⃣", "1⃣", "2⃣", "3⃣", "4⃣", "5⃣", "6⃣", "7⃣", "8⃣", "9⃣", "🔟"}
	// numberFiller may stand around a number: "number 2", "the second
	// one", "nr. 3", "optie 2".
	numberFiller = set("number", "no", "nr", "nummer", "option", "optie", "choice", "keuze", "the", "de", "het", "one", "please", "graag", "#")
)

// Number reads a whole answer that is a number: digits ("2", "#2", "2."),
// a keycap emoji, a number word or ordinal in English or Dutch ("two",
// "second", "twee", "tweede"), possibly with words around it ("number 2",
// "the second one"). "last"/"laatste" is -1. ok is false otherwise.
func Number(text string) (n int, ok bool) {
	if i := strings.Index(text, "-"); i >= 0 && i+1 < len(text) && text[i+1] >= '0' && text[i+1] <= '9' {
		return 0, false // "-1" is no option's number
	}
	f := Fold(strings.ReplaceAll(text, "#", " # "))
	for i, k := range keycaps {
		if f == k {
			return i, true
		}
	}
	found := false
	for _, w := range strings.Fields(f) {
		if v, err := strconv.Atoi(w); err == nil && len(w) <= 6 {
			if found {
				return 0, false
			}
			n, found = v, true
			continue
		}
		if v, isNum := numberWords[w]; isNum && !(w == "one" && found) {
			if found {
				if w == "one" {
					continue // "the second one"
				}
				return 0, false
			}
			n, found = v, true
			continue
		}
		if numberFiller[w] {
			continue
		}
		return 0, false
	}
	return n, found
}

// NumberWord is the value of one cardinal number word ("a", "two",
// "twee"), or -1 when w is none.
func NumberWord(w string) int {
	switch w {
	case "a", "an":
		return 1
	}
	if v, ok := cardinals[w]; ok {
		return v
	}
	return -1
}

var cardinals = map[string]int{
	"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
	"een": 1, "twee": 2, "drie": 3, "vier": 4, "vijf": 5, "zes": 6, "zeven": 7, "acht": 8, "negen": 9, "tien": 10,
}

// The commands every bot knows, by their canonical name.
const (
	Help     = "help"
	Menu     = "menu"
	Cancel   = "cancel"
	Stop     = "stop"
	Forget   = "forget"
	Language = "language"
)

var commands = map[string]string{
	"help": Help, "?": Help, "help me": Help, "commands": Help, "what can you do": Help, "hulp": Help, "help mij": Help, "info": Help,
	"menu": Menu, "menukaart": Menu, "the menu": Menu, "kaart": Menu, "de kaart": Menu, "show me the menu": Menu,
	"cancel": Cancel, "annuleer": Cancel, "annuleren": Cancel, "cancel it": Cancel, "cancel that": Cancel,
	"stop": Stop, "stoppen": Stop, "quit": Stop, "abort": Stop, "exit": Stop,
	"forget me": Forget, "forget about me": Forget, "delete my data": Forget, "erase my data": Forget, "forgetme": Forget,
	"vergeet mij": Forget, "vergeet me": Forget, "verwijder mijn gegevens": Forget, "wis mijn gegevens": Forget,
	"language": Language, "taal": Language, "lang": Language,
}

// Command is the canonical command a whole message is ("help", "menu",
// "cancel", "stop", "forget", "language"), or "". A leading "!" or "/"
// and politeness ("cancel please") are ignored. For "language" the
// argument ("language nl") is returned too.
func Command(text string) (cmd, arg string) {
	t := strings.TrimSpace(text)
	if s := strings.TrimLeft(t, "!/"); s != "" {
		t = s
	}
	if strings.TrimSpace(t) == "?" {
		return Help, ""
	}
	f := Fold(t)
	if c, ok := commands[f]; ok {
		return c, ""
	}
	w := strings.Fields(f)
	if len(w) == 2 && (w[0] == "language" || w[0] == "taal") {
		return Language, w[1]
	}
	var kept []string
	for _, x := range w {
		switch x {
		case "please", "pls", "graag", "alsjeblieft", "aub", "now", "nu":
		default:
			kept = append(kept, x)
		}
	}
	if c, ok := commands[strings.Join(kept, " ")]; ok && len(kept) > 0 {
		return c, ""
	}
	return "", ""
}

// Polite returns text without the politeness around a request: "please",
// "pls", "graag", "alsjeblieft", "thanks" at its start or end.
func Polite(text string) string {
	w := strings.Fields(text)
	trim := func(x string) bool {
		switch strings.Trim(strings.ToLower(x), ",.!?") {
		case "please", "pls", "plz", "graag", "alsjeblieft", "alstublieft", "aub", "thanks", "thx":
			return true
		}
		return false
	}
	for len(w) > 0 && trim(w[0]) {
		w = w[1:]
	}
	for len(w) > 0 && trim(w[len(w)-1]) {
		w = w[:len(w)-1]
	}
	return strings.Join(w, " ")
}

// dutch are words that, typed by a customer, mark Dutch; english words
// that mark English. Words common to both are in neither.
var (
	dutch = set("ja", "nee", "graag", "bedankt", "dank", "hoi", "hallo", "goedemorgen", "goedemiddag", "goedenavond", "ik", "wil",
		"een", "mijn", "waar", "is", "bestelling", "bestellen", "alsjeblieft", "alstublieft", "wat", "hebben", "jullie", "hoe",
		"lang", "duurt", "het", "de", "niet", "nog", "ophalen", "afhalen", "bezorgen", "morgen", "vandaag", "hulp", "taal",
		"annuleren", "annuleer", "vergeet", "mij", "zijn", "kan", "kunnen", "jij", "je", "u", "wanneer", "open", "dicht", "blijft",
		"boeken", "afspraak", "afspraken", "afzeggen", "verzetten", "verplaatsen", "overmorgen", "knipbeurt", "knippen",
		"maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag", "om", "uur", "kwart", "openingstijden")
	english = set("yes", "no", "please", "thanks", "thank", "hello", "hi", "i", "want", "a", "my", "where", "is", "order",
		"what", "have", "you", "how", "long", "the", "not", "yet", "pick", "up", "deliver", "delivery", "tomorrow", "today",
		"help", "cancel", "forget", "me", "are", "can", "when", "open", "closed", "need", "taxi", "from", "to", "it",
		"book", "appointment", "appointments", "reschedule", "haircut", "monday", "tuesday", "wednesday", "thursday",
		"friday", "saturday", "sunday")
)

// Guess says which language a message is in: "nl", "en", or "" when it
// cannot tell (a number, an emoji, a name).
func Guess(text string) string {
	nl, en := 0, 0
	for _, w := range Words(text) {
		if dutch[w] && !english[w] {
			nl++
		}
		if english[w] && !dutch[w] {
			en++
		}
	}
	switch {
	case nl > en:
		return "nl"
	case en > nl:
		return "en"
	}
	return ""
}

func set(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[Fold(w)] = true
	}
	return m
}
