package taxi

import (
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/internal/understand"
)

// Place is a pickup or a destination: a typed address (Geo false), a
// configured known place, or a location the customer shared.
type Place struct {
	// Name is the address as typed, the known place's name, or a label
	// for a shared location.
	Name string `json:"name"`
	// Fav is "home" or "work" when the place came from a favourite.
	Fav string  `json:"fav,omitempty"`
	Geo bool    `json:"geo,omitempty"`
	Lat float64 `json:"lat,omitempty"`
	Lon float64 `json:"lon,omitempty"`
}

// Short names a place in one word where possible: "Home", "Central Station".
func (p Place) Short() string {
	if p.Fav != "" {
		return strings.ToUpper(p.Fav[:1]) + p.Fav[1:]
	}
	return p.Name
}

// Long adds the address to a favourite: "Home (Keizersgracht 12)".
func (p Place) Long() string {
	if p.Fav != "" {
		return p.Short() + " (" + p.Name + ")"
	}
	return p.Name
}

// same reports whether two places are the same spot as far as the bot
// can tell.
func (p Place) same(q Place) bool {
	if p.Geo && q.Geo {
		return haversineMeters(p.Lat, p.Lon, q.Lat, q.Lon) < 50
	}
	return normPlace(p.Name) == normPlace(q.Name)
}

// notAnAddress are answers that pass for text but are no place: the
// customer answered another question than the one asked.
var notAnAddress = map[string]bool{
	"yes": true, "yeah": true, "yep": true, "no": true, "nope": true, "ok": true, "okay": true, "sure": true,
	"thanks": true, "thank you": true, "hello": true, "hi": true, "hey": true, "book": true, "taxi": true,
	"now": true, "later": true, "asap": true, "please": true, "nothing": true, "unknown": true, "dunno": true,
	"somewhere": true, "anywhere": true, "address": true, "wherever": true,
}

// maxAddressRunes caps a typed address.
const maxAddressRunes = 150

// favourites are the place names saved as customer facts.
var favourites = []string{"home", "work"}

func isFavourite(word string) bool { return word == "home" || word == "work" }

// reservedWord is a word with a meaning of its own in the bot.
func reservedWord(k string) bool {
	switch k {
	case "home", "work", "here", "other", "my location", "current location":
		return true
	}
	return false
}

// normPlace folds a place name for comparison: lower case, single spaces,
// no surrounding punctuation, no leading "the"/"to"/"from".
func normPlace(s string) string {
	s = strings.ToLower(strings.Join(strings.Fields(s), " "))
	s = strings.TrimFunc(s, func(r rune) bool { return unicode.IsPunct(r) || unicode.IsSpace(r) })
	for _, p := range []string{"to ", "from ", "my "} {
		if rest, ok := strings.CutPrefix(s, p); ok && rest != "" {
			s = rest
		}
	}
	return s
}

// known finds a configured place by name or alias.
func (b *Bot) known(text string) (Place, bool) {
	k := normPlace(text)
	for _, p := range b.cfg.Places {
		for _, n := range append([]string{p.Name}, p.Aliases...) {
			if normPlace(n) == k {
				return Place{Name: p.Name, Geo: true, Lat: *p.Lat, Lon: *p.Lon}, true
			}
		}
	}
	// A typo in a place's name ("schiphool"), never in a house number.
	if len([]rune(k)) >= 5 {
		for _, p := range b.cfg.Places {
			for _, n := range append([]string{p.Name}, p.Aliases...) {
				if understand.Close(k, normPlace(n)) {
					return Place{Name: p.Name, Geo: true, Lat: *p.Lat, Lon: *p.Lon}, true
				}
			}
		}
	}
	return Place{}, false
}

// favourite reads a saved "home" or "work" place.
func favourite(c *handlers.Conversation, name string) (Place, bool) {
	raw := c.Customer.Fact(name)
	if raw == "" {
		return Place{}, false
	}
	var p Place
	if json.Unmarshal([]byte(raw), &p) != nil || p.Name == "" {
		p = Place{Name: raw} // a fact set by hand as plain text
	}
	p.Fav = name
	return p, true
}

// withFav names a place by the favourite it is, if any ("Home").
func withFav(c *handlers.Conversation, p Place) Place {
	if p.Fav != "" {
		return p
	}
	for _, f := range favourites {
		if fp, ok := favourite(c, f); ok && fp.same(p) {
			return fp
		}
	}
	return p
}

func saveFavourite(c *handlers.Conversation, name string, p Place) {
	p.Fav = ""
	raw, _ := json.Marshal(p)
	c.SetFact(name, string(raw))
}

// placeFromText reads a typed pickup or destination. Any text that looks
// like an address is accepted as is (there is no geocoder); "home" and
// "work" are the saved favourites; known place names get coordinates.
func (b *Bot) placeFromText(c *handlers.Conversation, text string) (Place, error) {
	text = strings.Join(strings.Fields(text), " ")
	k := normPlace(text)
	switch {
	case k == "":
		return Place{}, handlers.Errorf("%s", b.tr(c, "address-please"))
	case isFavourite(k):
		if p, ok := favourite(c, k); ok {
			return p, nil
		}
		return Place{}, handlers.Errorf("%s", b.tr(c, "no-favourite", k, k))
	case k == "here" || k == "my location" || k == "current location" || k == "location":
		return Place{}, handlers.Errorf("%s", b.tr(c, "cant-see"))
	}
	if p, ok := b.known(text); ok {
		return p, nil
	}
	if notAnAddress[k] {
		return Place{}, handlers.Errorf("%s", b.tr(c, "not-an-address", handlers.CapText(text, 40), b.cfg.examplePlace()))
	}
	if utf8.RuneCountInString(text) > maxAddressRunes {
		return Place{}, handlers.Errorf("%s", b.tr(c, "too-long", maxAddressRunes))
	}
	letters := 0
	for _, r := range text {
		if unicode.IsLetter(r) {
			letters++
		}
	}
	if letters < 3 {
		return Place{}, handlers.Errorf("%s", b.tr(c, "not-an-address", handlers.CapText(text, 40), b.cfg.examplePlace()))
	}
	return Place{Name: text}, nil
}

// examplePlace names a place for hints.
func (cfg *Config) examplePlace() string {
	if len(cfg.Places) > 0 {
		return cfg.Places[0].Name
	}
	return "Central Station"
}

// placeFromLocation reads a shared m.location. Without a usable
// description it is named by the nearest of the company's own places, and
// by its coordinates only when none is near, in the customer's language.
func (b *Bot) placeFromLocation(c *handlers.Conversation, loc *handlers.Location) Place {
	name := strings.Join(strings.Fields(loc.Description), " ")
	if name == "" || strings.Contains(name, "geo:") || utf8.RuneCountInString(name) > 80 ||
		strings.EqualFold(name, "location") || strings.EqualFold(name, "my location") {
		name = b.tr(c, "pinned", loc.Latitude, loc.Longitude)
		if near, ok := b.nearestPlace(c.Language(), loc.Latitude, loc.Longitude); ok {
			name = near
		}
	}
	return Place{Name: name, Geo: true, Lat: loc.Latitude, Lon: loc.Longitude}
}
