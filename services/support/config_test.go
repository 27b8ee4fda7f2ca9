package support

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/services"
)

func build(t *testing.T, block string) (*Bot, error) {
	t.Helper()
	env := services.Env{Bot: config.Bot{Localpart: "support", Service: "support"}, ConfigFile: "config.yaml"}
	if block != "" {
		var node yaml.Node
		if err := yaml.Unmarshal([]byte(block), &node); err != nil {
			t.Fatal(err)
		}
		env.Bot.Config = *node.Content[0]
	}
	h, err := services.Build(env)
	if err != nil {
		return nil, err
	}
	return h.(*Bot), nil
}

func TestConfigDefaultsAndOverrides(t *testing.T) {
	b, err := build(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(b.faqs) != 4 || b.staffRoom != "" || b.cfg.TimeZone != "Europe/Amsterdam" || len(b.sched.days) != 5 {
		t.Fatalf("empty block: %+v", b.cfg)
	}
	b, err = build(t, "business: Lamp Shop\n")
	if err != nil || b.cfg.Business != "Lamp Shop" || len(b.faqs) != 4 {
		t.Fatalf("minimal block: %v %+v", err, b)
	}
	// A configured hours or faqs replaces the default; empty ones mean
	// always open / no FAQs.
	b, err = build(t, "hours: {sat: '10:00-14:00'}\nfaqs: []\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(b.sched.days) != 1 || len(b.faqs) != 0 {
		t.Fatalf("overrides: %+v %d", b.sched.days, len(b.faqs))
	}
	b, err = build(t, "hours: {}\n")
	if err != nil || !b.sched.open(time.Date(2026, 1, 11, 3, 0, 0, 0, time.UTC)) {
		t.Fatalf("hours: {} is always open: %v", err)
	}
	full := `
business: Example Shop
staff_room: "!support:example.org"
staff: ["@sam:example.org", "@kim:example.org"]
agent_title: Example Shop
time_zone: Europe/Amsterdam
hours: {mon: "09:00-17:00", tue: "09:00-17:00", wed: "09:00-12:00, 13:00-17:00", thu: "09:00-17:00", fri: "09:00-16:00", sat: closed}
expected_wait: 10m
wait_per_ticket: 4m
match_threshold: 0.4
followup_window: 168h
faqs:
  - question: Do you sell gift cards?
    answer: Yes, from €10 in our web shop.
    keywords: [gift card, voucher]
`
	b, err = build(t, full)
	if err != nil {
		t.Fatal(err)
	}
	if b.staffRoom != "!support:example.org" || !b.staff.Candidate("@kim:example.org") || b.staff.Candidate("@eve:example.org") || time.Duration(b.cfg.ExpectedWait) != 10*time.Minute || len(b.faqs) != 1 {
		t.Fatalf("full: %+v", b.cfg)
	}
	if b.agent("Sam") != "Sam (Example Shop)" {
		t.Fatalf("agent title: %q", b.agent("Sam"))
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ block, want string }{
		{"colour: red\n", `unknown key "colour"`},
		{"staff_room: '#support:example.org'\n", `staff_room: "#support:example.org" is not a room id`},
		{"staff_room: '!s:x'\nstaff: [sam]\n", `staff[0]: "sam" is not a Matrix user id`},
		{"staff: ['@sam:x']\n", "staff: set staff_room too"},
		{"staff_room: '!s:x'\nstaff_power_level: -1\n", "staff_power_level: -1 is negative"},
		{"staff_room: '!s:x'\nstaff: ['@sam:x']\nstaff_power_level: 50\n", "staff_power_level: set it or staff, not both"},
		{"time_zone: Mars/Olympus\n", `time_zone: "Mars/Olympus" is not a known time zone`},
		{"hours: {mon: '9-5'}\n", `hours.mon: "9-5" must look like 09:00-17:30`},
		{"hours: {mon: '17:00-09:00'}\n", `hours.mon: "17:00-09:00" must look like`},
		{"hours: {monday: '09:00-17:00'}\n", "hours.monday: not a day"},
		{"hours: {mon: closed}\n", "hours: every day is closed"},
		{"match_threshold: 2\n", "match_threshold: 2 must be > 0 and ≤ 1"},
		{"match_threshold: 0\n", "match_threshold: 0 must be > 0"},
		{"wait_per_ticket: 0s\n", "wait_per_ticket: must be > 0"},
		{"expected_wait: -5m\n", "expected_wait: must not be negative"},
		{"expected_wait: soon\n", `"soon" is not a duration`},
		{"business: ''\n", "business: must not be empty"},
		{"faqs: [{answer: x}]\n", "faqs[0].question: is required"},
		{"faqs: [{question: 'Gift cards?', answer: x}, {question: 'Vouchers?'}]\n", "faqs[1].answer: is required"},
		{"faqs: [{question: 'Gift cards?', answer: x, keywords: ['!!']}]\n", `faqs[0].keywords[0]: "!!" has no words`},
		{"faqs: [{question: 'How do I?', answer: x}]\n", "faqs[0]: the question has only common words"},
	} {
		_, err := build(t, tc.block)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.block, err, tc.want)
		}
		if err != nil && !strings.Contains(err.Error(), "config.yaml") {
			t.Errorf("%q: error does not name the file: %v", tc.block, err)
		}
	}
}
