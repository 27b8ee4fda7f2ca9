package harness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// The bots list is the last section of the bizbots.yaml `bizbots init`
// writes:
//
//	bots:
//	  - localpart: pizza
//	    display_name: "Pizza Place"
//	    ...
//	    service: ordering
//	    welcome: "..."
//
// SetBotConfig and AddBot edit it line by line (the harness has no YAML
// library). A config value may be any YAML, including JSON, which is what
// the tests write.

// BotEntry is one bot of the bots list.
type BotEntry struct {
	Localpart   string
	DisplayName string
	Service     string
	Welcome     string
	// Config is the bot's `config:` block as YAML text: one line (JSON or
	// YAML flow style, e.g. `{"shop": "Corner Coffee"}`) or a block, which
	// is indented under `config:`. Empty: no config block.
	Config string
}

// botsSection returns the index of the "bots:" line and the end of the
// section (the next top-level line, or len(lines)).
func botsSection(lines []string) (start, end int, err error) {
	start = -1
	for i, l := range lines {
		if start < 0 {
			if strings.TrimRight(l, " ") == "bots:" {
				start = i
			}
			continue
		}
		if l != "" && l[0] != ' ' && l[0] != '#' {
			return start, i, nil
		}
	}
	if start < 0 {
		return 0, 0, errors.New("harness: no top-level bots: section in the config")
	}
	return start, len(lines), nil
}

// configLines renders a config block for a bot entry (4 spaces in).
func configLines(block string) []string {
	block = strings.TrimRight(block, "\n")
	if !strings.Contains(block, "\n") {
		return []string{"    config: " + strings.TrimSpace(block)}
	}
	out := []string{"    config:"}
	for _, l := range strings.Split(block, "\n") {
		if strings.TrimSpace(l) == "" {
			out = append(out, "")
			continue
		}
		out = append(out, "      "+l)
	}
	return out
}

// SetBotConfig sets the `config:` block of the bot with this localpart in
// the config at path, replacing the block it has. block is YAML text (see
// BotEntry.Config).
func SetBotConfig(path, localpart, block string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lines := strings.Split(string(data), "\n")
	start, end, err := botsSection(lines)
	if err != nil {
		return err
	}
	first := -1
	for i := start + 1; i < end; i++ {
		if l := strings.TrimRight(lines[i], " "); l == "  - localpart: "+localpart || l == `  - localpart: "`+localpart+`"` {
			first = i
			break
		}
	}
	if first < 0 {
		return fmt.Errorf("harness: no bot %q in the bots section of %s", localpart, path)
	}
	last := end // the entry is lines[first:last]
	for i := first + 1; i < end; i++ {
		if strings.HasPrefix(lines[i], "  - ") {
			last = i
			break
		}
	}
	for last > first+1 && strings.TrimSpace(lines[last-1]) == "" {
		last--
	}
	// Drop an existing config block: its line and everything indented
	// deeper than the entry's keys.
	entry := []string{}
	for i := first; i < last; i++ {
		if strings.HasPrefix(lines[i], "    config:") {
			for i+1 < last && (strings.HasPrefix(lines[i+1], "      ") || strings.TrimSpace(lines[i+1]) == "") {
				i++
			}
			continue
		}
		entry = append(entry, lines[i])
	}
	entry = append(entry, configLines(block)...)
	out := append(append(append([]string{}, lines[:first]...), entry...), lines[last:]...)
	return os.WriteFile(path, []byte(strings.Join(out, "\n")), 0o600)
}

// AddBot appends a bot to the bots list of the config at path. Remember
// to regenerate the registration (`bizbots generate-registration
// --force`) before Dendrite starts, or the bot is outside the
// appservice's namespace.
func AddBot(path string, b BotEntry) error {
	if b.Localpart == "" || b.Service == "" {
		return errors.New("harness: AddBot needs a localpart and a service")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lines := strings.Split(string(data), "\n")
	_, end, err := botsSection(lines)
	if err != nil {
		return err
	}
	for end > 0 && strings.TrimSpace(lines[end-1]) == "" {
		end--
	}
	entry := []string{"  - localpart: " + q(b.Localpart)}
	if b.DisplayName != "" {
		entry = append(entry, "    display_name: "+q(b.DisplayName))
	}
	entry = append(entry, "    service: "+q(b.Service))
	if b.Welcome != "" {
		entry = append(entry, "    welcome: "+q(b.Welcome))
	}
	if b.Config != "" {
		entry = append(entry, configLines(b.Config)...)
	}
	out := append(append(append([]string{}, lines[:end]...), entry...), lines[end:]...)
	if len(lines[end:]) == 0 {
		out = append(out, "") // keep the final newline
	}
	return os.WriteFile(path, []byte(strings.Join(out, "\n")), 0o600)
}

// SetDisplayName sets u's display name (what bots call the user: "Sam
// (support): …"). Set it before the user joins rooms, or each room gets a
// member event for the change.
func (d *Dendrite) SetDisplayName(ctx context.Context, u *User, name string) error {
	return d.Do(ctx, http.MethodPut, "/_matrix/client/v3/profile/"+url.PathEscape(u.UserID)+"/displayname",
		u.AccessToken, map[string]string{"displayname": name}, nil)
}

// CreateRoom creates a room as u with the createRoom body (name, preset,
// invite, …) and returns its id.
func (d *Dendrite) CreateRoom(ctx context.Context, u *User, body map[string]any) (string, error) {
	var created struct {
		RoomID string `json:"room_id"`
	}
	if err := d.Do(ctx, http.MethodPost, "/_matrix/client/v3/createRoom", u.AccessToken, body, &created); err != nil {
		return "", err
	}
	if created.RoomID == "" {
		return "", errors.New("harness: createRoom answered without a room_id")
	}
	return created.RoomID, nil
}
