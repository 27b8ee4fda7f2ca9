package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
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

// PythonWithNio returns Python(), failing the test (skipping it with
// E2E_ALLOW_SKIP=1) when it cannot import nio.
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
	// Room, if set, is an existing room the user is in (or may join) to
	// use instead of a new DM (--room); the client invites Bot unless it
	// is a member already, and waits for its join and first message as in
	// a DM (--no-welcome to skip the latter).
	Room  string
	Extra []string // e.g. --expect-echo, --exact, --one-by-one
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
	// Client wall-clock times (Unix seconds): TRecv when an event was
	// printed, TSend/TSent around the send request of a "sent" line.
	TRecv float64 `json:"t_recv"`
	TSend float64 `json:"t_send"`
	TSent float64 `json:"t_sent"`
	// Key and RelatesTo: an m.reaction's emoji and the event it is on.
	Key       string `json:"key"`
	RelatesTo string `json:"relates_to"`
	// Thread is the thread root of a message in a thread (m.thread);
	// InReplyTo the event it replies to (m.in_reply_to).
	Thread    string `json:"thread"`
	InReplyTo string `json:"in_reply_to"`
	// GeoURI of an m.location message.
	GeoURI string `json:"geo_uri"`
	// What a "sent" line sent: text, thread, reaction or location.
	What   string `json:"what"`
	UserID string `json:"user_id"`
	// Encrypted: the event arrived end-to-end encrypted (client.py
	// --encrypt decrypted it).
	Encrypted bool `json:"encrypted"`
	// A "botdevice" line (e2e/jsclient's status command): one device of
	// the bot (UserID), whether the bot has cross-signing keys and
	// whether the device is signed by its owner's self-signing key.
	DeviceID         string `json:"device_id"`
	CrossSigningKeys bool   `json:"cross_signing_keys"`
	SignedByOwner    bool   `json:"signed_by_owner"`
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

// clientArgv is the command line of client.py for a.
func clientArgv(script string, a ClientArgs) []string {
	args := []string{script,
		"--homeserver", a.Homeserver, "--user", a.User, "--password", a.Password,
		"--bot", a.Bot, "--messages", strconv.Itoa(a.Messages),
		"--timeout", strconv.FormatFloat(a.Timeout.Seconds(), 'f', -1, 64),
	}
	if a.Room != "" {
		args = append(args, "--room", a.Room)
	}
	return append(args, a.Extra...)
}

// RunClient runs client.py with py and returns its parsed output. It is
// bounded by a.Timeout plus 30s.
func RunClient(py, script string, a ClientArgs) *ClientResult {
	if a.Timeout == 0 {
		a.Timeout = 60 * time.Second
	}
	args := clientArgv(script, a)
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

// ClientSession is client.py --interactive: one DM, one sync loop that
// prints every event as it arrives, and messages sent when the driver says
// so. It lets a test control timing (restart bizbots between two messages,
// time each reply) while the client keeps syncing.
type ClientSession struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{} // closed when the process has exited
	cmdMu sync.Mutex    // serialises writes to stdin

	mu      sync.Mutex
	lines   []ClientLine
	stdout  bytes.Buffer
	stderr  bytes.Buffer
	changed chan struct{} // closed and replaced whenever a line arrives or the process exits
	bad     error         // first non-JSON line
	waitErr error
}

// StartClientSession starts client.py --interactive and waits (up to
// a.Timeout) for its "ready" line: logged in, DM open, bot joined and, unless
// --no-welcome is in a.Extra, the welcome received. a.Timeout (default 120s)
// is also the client's overall lifetime; Close it before then.
func StartClientSession(py, script string, a ClientArgs) (*ClientSession, error) {
	if a.Timeout == 0 {
		a.Timeout = 120 * time.Second
	}
	a.Extra = append(append([]string{}, a.Extra...), "--interactive")
	cmd := exec.Command(py, clientArgv(script, a)...)
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	cmd.SysProcAttr = procAttr()
	cs := &ClientSession{cmd: cmd, done: make(chan struct{}), changed: make(chan struct{})}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = &lockedWriter{mu: &cs.mu, buf: &cs.stderr}
	cs.stdin = stdin
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("harness: start client.py: %w", err)
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			cs.addLine(sc.Text())
		}
	}()
	go func() {
		<-readDone // all output read before Wait closes the pipe
		err := cmd.Wait()
		cs.mu.Lock()
		cs.waitErr = err
		cs.notifyLocked()
		cs.mu.Unlock()
		close(cs.done)
	}()
	// Bounded by the client's own timeout plus a margin; the kill below
	// ends a client that hangs.
	if _, err := cs.WaitFor(a.Timeout+10*time.Second, "the client's ready line", func(ls []ClientLine) bool {
		for _, l := range ls {
			if l.Kind == "ready" {
				return true
			}
		}
		return false
	}); err != nil {
		cs.Kill()
		return cs, err
	}
	return cs, nil
}

type lockedWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (cs *ClientSession) notifyLocked() {
	close(cs.changed)
	cs.changed = make(chan struct{})
}

func (cs *ClientSession) addLine(text string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.stdout.WriteString(text + "\n")
	text = strings.TrimSpace(text)
	if text == "" {
		return
	}
	var l ClientLine
	if err := json.Unmarshal([]byte(text), &l); err != nil {
		if cs.bad == nil {
			cs.bad = fmt.Errorf("client.py printed a non-JSON line: %q", text)
		}
		return
	}
	cs.lines = append(cs.lines, l)
	cs.notifyLocked()
}

// Lines returns a copy of the lines printed so far.
func (cs *ClientSession) Lines() []ClientLine {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return append([]ClientLine(nil), cs.lines...)
}

// Output is what the client printed so far (stdout, stderr).
func (cs *ClientSession) Output() (string, string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.stdout.String(), cs.stderr.String()
}

// ErrClientExited is returned by WaitFor when client.py exited before the
// condition held.
var ErrClientExited = errors.New("harness: client.py exited")

// WaitFor waits up to timeout until cond holds for the lines printed so
// far, and returns them. cond is called with the lock held: keep it quick
// and do not call other methods from it.
func (cs *ClientSession) WaitFor(timeout time.Duration, what string, cond func([]ClientLine) bool) ([]ClientLine, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		cs.mu.Lock()
		if cond(cs.lines) {
			out := append([]ClientLine(nil), cs.lines...)
			cs.mu.Unlock()
			return out, nil
		}
		changed := cs.changed
		exited := cs.done
		cs.mu.Unlock()
		select {
		case <-changed:
		case <-exited:
			// Look once more: the last lines may have just arrived.
			cs.mu.Lock()
			ok := cond(cs.lines)
			out := append([]ClientLine(nil), cs.lines...)
			werr := cs.waitErr
			cs.mu.Unlock()
			if ok {
				return out, nil
			}
			return out, fmt.Errorf("%w (%v) while waiting for %s", ErrClientExited, werr, what)
		case <-deadline.C:
			return cs.Lines(), fmt.Errorf("harness: timed out after %s waiting for %s", timeout, what)
		}
	}
}

// Send tells the client to send text as an m.text message. It does not
// wait for the "sent" line (see WaitSent).
func (cs *ClientSession) Send(text string) error { return cs.command("send", text) }

// Leave leaves the room; the client then accepts the bot's next invite
// (a new direct chat the bot opens) and follows it.
func (cs *ClientSession) Leave() error { return cs.command("leave") }

// SendThread sends text as an m.text message in the thread of root.
func (cs *ClientSession) SendThread(root, text string) error {
	return cs.command("thread", root, text)
}

// React sends an m.reaction (an m.annotation with key, e.g. "1️⃣") on
// the event eventID.
func (cs *ClientSession) React(eventID, key string) error {
	return cs.command("react", eventID, key)
}

// SendLocation sends an m.location message: geoURI ("geo:52.37,4.89")
// and a description (its body).
func (cs *ClientSession) SendLocation(geoURI, description string) error {
	return cs.command("location", geoURI, description)
}

// BotStatus asks e2e/jsclient for what its crypto believes of the bot's
// devices and waits for the answer: the "botdevice" lines.
func (cs *ClientSession) BotStatus(timeout time.Duration) ([]ClientLine, error) {
	before := countKind(cs.Lines(), "status")
	if err := cs.command("status"); err != nil {
		return nil, err
	}
	lines, err := cs.WaitFor(timeout, "the bot's device status", func(ls []ClientLine) bool {
		return countKind(ls, "status") > before
	})
	if err != nil {
		return nil, err
	}
	// The devices of the last status answer: the lines after the
	// previous "status" line.
	var devs []ClientLine
	for _, l := range lines {
		switch l.Kind {
		case "botdevice":
			devs = append(devs, l)
		case "status":
			if before == 0 {
				return devs, nil
			}
			before--
			devs = nil
		}
	}
	return devs, nil
}

// command writes one command line to the client: the words joined by
// spaces (only the last may contain spaces).
func (cs *ClientSession) command(words ...string) error {
	for i, w := range words {
		if strings.ContainsAny(w, "\r\n") {
			return errors.New("harness: a command sent through ClientSession must be one line")
		}
		if i < len(words)-1 && (w == "" || strings.Contains(w, " ")) {
			return fmt.Errorf("harness: command argument %q must be one word", w)
		}
	}
	cs.cmdMu.Lock()
	defer cs.cmdMu.Unlock()
	select {
	case <-cs.done:
		return ErrClientExited
	default:
	}
	_, err := io.WriteString(cs.stdin, strings.Join(words, " ")+"\n")
	return err
}

// WaitSent waits until the client has printed n "sent" lines (the
// homeserver accepted n messages) and returns them.
func (cs *ClientSession) WaitSent(n int, timeout time.Duration) ([]ClientLine, error) {
	lines, err := cs.WaitFor(timeout, fmt.Sprintf("%d sent messages", n), func(ls []ClientLine) bool {
		return countKind(ls, "sent") >= n
	})
	var sent []ClientLine
	for _, l := range lines {
		if l.Kind == "sent" {
			sent = append(sent, l)
		}
	}
	return sent, err
}

// Messages returns the m.room.message events from sender seen so far, in
// timeline order.
func (cs *ClientSession) Messages(sender string) []ClientLine {
	return MessagesFrom(cs.Lines(), sender)
}

// MessagesFrom filters lines down to m.room.message events from sender.
func MessagesFrom(lines []ClientLine, sender string) []ClientLine {
	var out []ClientLine
	for _, l := range lines {
		if l.Kind == "event" && l.Type == "m.room.message" && l.Sender == sender {
			out = append(out, l)
		}
	}
	return out
}

func countKind(ls []ClientLine, kind string) int {
	n := 0
	for _, l := range ls {
		if l.Kind == kind {
			n++
		}
	}
	return n
}

// Close tells the client to quit, waits up to 30s for it to exit (then
// kills it) and returns everything it printed. Err is non-nil if it exited
// non-zero or printed a non-JSON line. Safe to call more than once.
func (cs *ClientSession) Close() *ClientResult {
	cs.cmdMu.Lock()
	select {
	case <-cs.done:
	default:
		_, _ = io.WriteString(cs.stdin, "quit\n")
		_ = cs.stdin.Close()
	}
	cs.cmdMu.Unlock()
	select {
	case <-cs.done:
	case <-time.After(30 * time.Second):
		cs.Kill()
	}
	return cs.result()
}

// Kill ends the client at once (SIGKILL) and waits up to 10s for it.
func (cs *ClientSession) Kill() {
	select {
	case <-cs.done:
		return
	default:
	}
	_ = cs.cmd.Process.Kill()
	select {
	case <-cs.done:
	case <-time.After(10 * time.Second):
	}
}

func (cs *ClientSession) result() *ClientResult {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	res := &ClientResult{
		Lines:  append([]ClientLine(nil), cs.lines...),
		Stdout: cs.stdout.String(),
		Stderr: cs.stderr.String(),
	}
	select {
	case <-cs.done:
		res.Err = cs.waitErr
	default:
		res.Err = errors.New("harness: client.py still running")
	}
	if res.Err == nil {
		res.Err = cs.bad
	}
	return res
}
