package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Python returns the interpreter for e2e/client.py: $E2E_PYTHON, else
// /usr/bin/python3 (Debian's python3-matrix-nio installs there; a pyenv
// python3 earlier on PATH usually lacks nio).
func Python() string {
	if p := os.Getenv("E2E_PYTHON"); p != "" {
		return p
	}
	return "/usr/bin/python3"
}

// CheckNio reports whether py can import nio.
func CheckNio(py string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "-c", "import nio").CombinedOutput()
	if err != nil {
		return fmt.Errorf("harness: %s cannot import nio (run scripts/install-client-deps.sh): %v: %s", py, err, bytes.TrimSpace(out))
	}
	return nil
}

// PythonWithNio returns Python(), skipping the test (failing it with
// E2E_REQUIRE=1) when it cannot import nio.
func PythonWithNio(t testing.TB) string {
	t.Helper()
	py := Python()
	if err := CheckNio(py); err != nil {
		SkipOrFail(t, "%v", err)
	}
	return py
}

// ClientArgs are the flags of e2e/client.py.
type ClientArgs struct {
	Homeserver string
	User       string
	Password   string
	Bot        string
	Messages   int
	Timeout    time.Duration // the client's own limit; the process gets 30s more
	Extra      []string      // e.g. --expect-echo, --exact, --one-by-one
}

// ClientLine is one JSON line printed by client.py.
type ClientLine struct {
	Kind           string `json:"kind"`
	Type           string `json:"type"`
	Sender         string `json:"sender"`
	Body           string `json:"body"`
	MsgType        string `json:"msgtype"`
	EventID        string `json:"event_id"`
	OriginServerTS int64  `json:"origin_server_ts"`
	RoomID         string `json:"room_id"`
	StateKey       string `json:"state_key"`
	Membership     string `json:"membership"`
	N              int    `json:"n"`
	Message        string `json:"message"`
	Replies        int    `json:"replies"`
	Extra          int    `json:"extra"`
}

// ClientResult is what client.py printed.
type ClientResult struct {
	Lines  []ClientLine
	Stdout string
	Stderr string
	Err    error // non-nil when the client exited non-zero or could not run
}

// Of returns the lines of one kind, in order.
func (r *ClientResult) Of(kind string) []ClientLine {
	var out []ClientLine
	for _, l := range r.Lines {
		if l.Kind == kind {
			out = append(out, l)
		}
	}
	return out
}

// Replies are the bot's messages after the welcome that answered the
// numbered messages ("reply" lines).
func (r *ClientResult) Replies() []ClientLine { return r.Of("reply") }

// Welcome is the bot's first message, or nil.
func (r *ClientResult) Welcome() *ClientLine {
	if w := r.Of("welcome"); len(w) > 0 {
		return &w[0]
	}
	return nil
}

// Messages are all m.room.message events the client saw, in timeline order.
func (r *ClientResult) Messages() []ClientLine {
	var out []ClientLine
	for _, l := range r.Lines {
		if l.Kind == "event" && l.Type == "m.room.message" {
			out = append(out, l)
		}
	}
	return out
}

// RunClient runs client.py with py and returns its parsed output. It is
// bounded by a.Timeout plus 30s.
func RunClient(py, script string, a ClientArgs) *ClientResult {
	if a.Timeout == 0 {
		a.Timeout = 60 * time.Second
	}
	args := []string{script,
		"--homeserver", a.Homeserver, "--user", a.User, "--password", a.Password,
		"--bot", a.Bot, "--messages", strconv.Itoa(a.Messages),
		"--timeout", strconv.FormatFloat(a.Timeout.Seconds(), 'f', -1, 64),
	}
	args = append(args, a.Extra...)
	ctx, cancel := context.WithTimeout(context.Background(), a.Timeout+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, args...)
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	res := &ClientResult{Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
	sc := bufio.NewScanner(strings.NewReader(res.Stdout))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var l ClientLine
		if jerr := json.Unmarshal([]byte(line), &l); jerr != nil {
			if res.Err == nil {
				res.Err = fmt.Errorf("client.py printed a non-JSON line: %q", line)
			}
			continue
		}
		res.Lines = append(res.Lines, l)
	}
	return res
}
