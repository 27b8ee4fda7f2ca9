package support

import (
	"strings"
	"unicode"
)

// FAQ matching is deliberately simple and explainable (docs/services/
// support.md spells it out): words are lower-cased and lightly stemmed;
// a keyword (one or more words) matches where its words appear in a row
// in the message; similarity is the Dice coefficient of the message's
// and the question's content words (common words left out). The score
// is 0.5 for the first keyword that matches, +0.1 for each further one
// (up to 0.8), plus half the similarity; the best FAQ at or above the
// threshold is offered.

// faqIndex is an FAQ prepared for matching.
type faqIndex struct {
	faq      FAQ
	keywords [][]string // each keyword's stemmed words
	words    map[string]bool
}

func indexFAQ(f FAQ) faqIndex {
	fi := faqIndex{faq: f, words: contentWords(f.Question)}
	for _, k := range f.Keywords {
		if t := tokens(k); len(t) > 0 {
			fi.keywords = append(fi.keywords, t)
		}
	}
	return fi
}

// stopwords are left out of the similarity: they say nothing of the topic.
var stopwords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an the and or but if then so to of in on at by for with from about into over
		i me my mine we us our you your he she it its they them their this that these those there here
		is are was were be been being am do doe did done have ha had can could will would shall should may might must
		what which who whom whose when where why how not no yes please hi hello hey thank thanks
		get got just also too very much many some any all one as up out than now again still`) {
		stopwords[w] = true
	}
}

// tokens splits text into lower-case, lightly stemmed words.
func tokens(s string) []string {
	fields := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '\''
	})
	out := make([]string, 0, len(fields))
	for _, f := range fields {
		if w := stem(strings.Trim(f, "'")); w != "" {
			out = append(out, w)
		}
	}
	return out
}

// stem drops a possessive and a plural "s" ("returns" → "return", "days"
// → "day"), leaving "address", "yes" and short words alone.
func stem(w string) string {
	w = strings.TrimSuffix(w, "'s")
	if strings.HasSuffix(w, "ies") && len(w) > 4 {
		return w[:len(w)-3] + "y"
	}
	if strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") && !strings.HasSuffix(w, "us") && len(w) > 3 {
		return w[:len(w)-1]
	}
	return w
}

func contentWords(s string) map[string]bool {
	out := map[string]bool{}
	for _, w := range tokens(s) {
		if !stopwords[w] {
			out[w] = true
		}
	}
	return out
}

// faqMatch is the best FAQ for a message.
type faqMatch struct {
	index   int
	score   float64
	keyword string // the longest keyword that matched, as configured ("" if none)
}

// bestFAQ scores every FAQ against text and returns the best (index -1
// when there are none).
func bestFAQ(faqs []faqIndex, text string) faqMatch {
	toks := tokens(text)
	words := contentWords(text)
	best := faqMatch{index: -1}
	for i, f := range faqs {
		hits, first := 0, ""
		for k, kw := range f.keywords {
			if containsRun(toks, kw) {
				// validate rejects keywords without words, so
				// f.keywords and f.faq.Keywords line up. The longest
				// keyword is the most telling label ("paypal", not "pay").
				if k := f.faq.Keywords[k]; len(k) > len(first) {
					first = k
				}
				hits++
			}
		}
		score := 0.0
		if hits > 0 {
			score = min(0.5+0.1*float64(hits-1), 0.8)
		}
		score += 0.5 * dice(words, f.words)
		if score > best.score {
			best = faqMatch{index: i, score: score, keyword: first}
		}
	}
	return best
}

func containsRun(toks, run []string) bool {
	if len(run) == 0 || len(run) > len(toks) {
		return false
	}
outer:
	for i := 0; i+len(run) <= len(toks); i++ {
		for j, w := range run {
			if toks[i+j] != w {
				continue outer
			}
		}
		return true
	}
	return false
}

func dice(a, b map[string]bool) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	n := 0
	for w := range a {
		if b[w] {
			n++
		}
	}
	return 2 * float64(n) / float64(len(a)+len(b))
}

// topic is a short label for a ticket ("refund"): the longest keyword of
// the nearest FAQ when one matched, else the message's first words.
func topic(faqs []faqIndex, text string) string {
	if m := bestFAQ(faqs, text); m.keyword != "" {
		return m.keyword
	}
	words := strings.Fields(text)
	if len(words) > 5 {
		return strings.Join(words[:5], " ") + "…"
	}
	return strings.TrimRight(strings.Join(words, " "), ".!?")
}

// humanPhrases ask for a person rather than an answer.
var humanPhrases = [][]string{
	{"talk", "to"}, {"speak", "to"}, {"talk", "with"}, {"speak", "with"}, {"chat", "with"},
	{"person"}, {"human"}, {"someone"}, {"somebody"}, {"representative"}, {"operator"},
	{"an", "agent"}, {"real", "agent"}, {"agent"}, {"staff"}, {"employee"}, {"ticket"},
	{"mens"}, {"medewerker"}, {"iemand"}, {"spreken"},
}

// wantsHuman says whether text asks for a person. A bare "agent" only
// counts in a short message, so "the delivery agent was rude" is left to
// the usual matching (and still becomes a ticket if no FAQ fits).
func wantsHuman(text string) bool {
	toks := tokens(text)
	for _, p := range humanPhrases {
		if containsRun(toks, p) {
			if len(p) == 1 && (p[0] == "agent" || p[0] == "staff") && len(toks) > 4 {
				continue
			}
			return true
		}
	}
	return false
}

// pleasantry classifies small talk that should not open a ticket:
// "greet", "thanks", or "".
func pleasantry(text string) string {
	t := strings.Join(tokens(text), " ")
	switch t {
	case "hi", "hello", "hey", "hallo", "hoi", "good morning", "good afternoon", "good evening", "hi there", "hello there":
		return "greet"
	case "thank", "thanks", "thank you", "thx", "ty", "ok", "okay", "ok thank", "ok thanks", "great", "great thank",
		"great thanks", "perfect", "cool", "bye", "goodbye", "bedankt", "dank je", "super":
		return "thanks"
	}
	return ""
}
