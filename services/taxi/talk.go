package taxi

import (
	"context"
	"regexp"
	"strings"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/internal/understand"
)

// What customers say beyond the commands: "I need a taxi from Centraal
// Station to Museumplein 6", "where is the driver?", "thanks", "right now
// please", "at tomorrow 07:30".

var (
	wantTaxiRe = regexp.MustCompile(`(?i)\b(taxi|cab|ride|rit)\b`)
	tripRe     = regexp.MustCompile(`(?i)\b(?:from|van(?:af)?)\s+(.+?)\s+(?:to|naar)\s+(.+)$`)
	toRe       = regexp.MustCompile(`(?i)^(.+?)\s+(?:to|naar)\s+(.+)$`)
	statusRe   = regexp.MustCompile(`(?i)\b(where|waar)\b.*\b(taxi|driver|cab|chauffeur|ride|rit)\b|\bhow long\b|\bhoe lang\b|\bwhen (will|does) (it|the taxi|my taxi|the driver)\b`)
	thanksRe   = regexp.MustCompile(`(?i)^\s*(thanks|thank you|thx|ty|cheers|merci|bedankt|dank ?je( wel)?|dank u( wel)?|dankjewel)\b`)
	// whenFor splits a trip's destination from a time said with it:
	// "Museumplein 6 right now", "Schiphol at 18:30".
	whenFor = regexp.MustCompile(`(?i)\s+((?:right )?now|asap|at \d.*|in \d.*|tomorrow.*|morgen.*)$`)
)

// bookTrip starts a booking from words: with "from X to Y" both places
// are taken and the time asked (or taken too, when said).
func (b *Bot) bookTrip(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	if err := b.noOpenRide(ctx, c); err != nil {
		return err
	}
	from, to, ok := splitTrip(m.Text())
	if !ok {
		return b.askPickup(ctx, c, draft{})
	}
	return b.tripFrom(ctx, c, from, to)
}

// splitTrip reads "from X to Y" (or "X to Y"), without the time.
func splitTrip(text string) (from, to string, ok bool) {
	t := strings.TrimRight(strings.TrimSpace(text), ".!?")
	if m := tripRe.FindStringSubmatch(t); m != nil {
		return strings.TrimSpace(m[1]), strings.TrimSpace(m[2]), true
	}
	if m := toRe.FindStringSubmatch(t); m != nil && !wantTaxiRe.MatchString(m[1]) {
		return strings.TrimSpace(m[1]), strings.TrimSpace(m[2]), true
	}
	return "", "", false
}

// tripFrom takes pickup and destination typed in one message, and the
// time when it came with them.
func (b *Bot) tripFrom(ctx context.Context, c *handlers.Conversation, from, to string) error {
	when := ""
	if m := whenFor.FindStringSubmatchIndex(to); m != nil {
		when, to = strings.TrimSpace(to[m[2]:m[3]]), strings.TrimSpace(to[:m[0]])
	}
	p, err := b.placeFromText(c, from)
	if err != nil {
		return err
	}
	d, err := b.placeFromText(c, to)
	if err != nil {
		return err
	}
	if p.same(d) {
		return handlers.Errorf("%s", b.tr(c, "same-place"))
	}
	dr := draft{Pickup: &p, Destination: &d}
	if when != "" {
		if at, err := b.parseWhen(c.Language(), when, c.Now()); err == nil {
			if at.After(c.Now()) {
				dr.At = ms(at)
			}
			return b.askConfirm(c, dr)
		}
	}
	c.Reply(b.tr(c, "trip", p.Long(), d.Long()))
	return b.askWhen(c, dr)
}

func (b *Bot) thanks(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	r, err := b.openRide(ctx, c.Bot, c.Customer.ID)
	if err != nil {
		return err
	}
	if r != nil {
		c.Reply(b.tr(c, "welcome-ride", b.statusLine(c.Language(), r, c.Now())))
		return nil
	}
	c.Reply(b.tr(c, "welcome"))
	return nil
}

// normalizeWhen turns the ways people say a time into what parseWhen
// reads: "right now please" → "now", "at tomorrow 07:30" → "tomorrow at
// 07:30", Dutch "morgen om 7:30" → "tomorrow at 7:30".
func normalizeWhen(text string) string {
	t := strings.ToLower(understand.Polite(strings.Join(strings.Fields(text), " ")))
	t = strings.TrimRight(t, ".!? ")
	switch t {
	case "nu", "nu meteen", "meteen", "zo snel mogelijk", "zsm", "direct", "straks niet, nu", "right away", "now now", "straight away":
		return "now"
	}
	t = " " + t + " "
	for _, r := range [][2]string{{" morgenochtend ", " tomorrow "}, {" morgen ", " tomorrow "}, {" vandaag ", " today "},
		{" vanavond ", " tonight "}, {" om ", " at "}, {" over ", " in "}, {" minuten ", " min "}, {" een half uur ", " half an hour "},
		{" half uur ", " half an hour "}, {" uur ", " hours "}} {
		t = strings.ReplaceAll(t, r[0], r[1])
	}
	t = strings.TrimSpace(t)
	for _, day := range []string{"tomorrow", "today", "tonight"} {
		if rest, ok := strings.CutPrefix(t, "at "+day+" "); ok {
			t = day + " at " + rest
		}
		if rest, ok := strings.CutPrefix(t, "om "+day+" "); ok {
			t = day + " at " + rest
		}
	}
	if rest, ok := strings.CutPrefix(t, "right "); ok {
		t = rest
	}
	if strings.HasPrefix(t, "om ") {
		t = "at " + strings.TrimPrefix(t, "om ")
	}
	return t
}

// nearestPlace names a shared location by the closest of the company's
// own places when it is within reach ("near Central Station").
func (b *Bot) nearestPlace(lang string, lat, lon float64) (string, bool) {
	const reach = 300 // meters
	best, bestM := "", float64(reach)
	for _, p := range b.cfg.Places {
		if p.Lat == nil || p.Lon == nil {
			continue
		}
		if d := haversineMeters(lat, lon, *p.Lat, *p.Lon); d <= bestM {
			best, bestM = p.Name, d
		}
	}
	if best == "" {
		return "", false
	}
	if bestM < 50 {
		return best, true
	}
	return b.trl(lang, "near", best), true
}
