package echo_test

import (
	"strings"
	"testing"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/services"
	"github.com/bizbots/bizbots/services/echo"
	"gopkg.in/yaml.v3"
)

func TestEchoRepliesWithTheText(t *testing.T) {
	h := handlertest.New(t, echo.New(echo.Config{Prefix: "echo: "}), handlertest.Options{Welcome: "hello!"})
	if got := handlertest.Text(h.Open()); got != "hello!" {
		t.Fatalf("welcome: %q", got)
	}
	if got := handlertest.Bodies(h.Say("  pizza please ")); len(got) != 1 || got[0] != "echo: pizza please" {
		t.Fatalf("reply: %q", got)
	}
	if got := h.Send("m.room.message", map[string]any{"msgtype": "m.image", "body": "x.png", "url": "mxc://a/b"}); len(got) != 0 {
		t.Fatalf("echoed an image: %q", handlertest.Bodies(got))
	}
}

func TestEchoConfigIsStrict(t *testing.T) {
	var node yaml.Node
	if err := yaml.Unmarshal([]byte("prefix: '> '\ncolour: red\n"), &node); err != nil {
		t.Fatal(err)
	}
	env := services.Env{Bot: config.Bot{Localpart: "e", Service: "echo", Config: *node.Content[0]}, ConfigFile: "config.yaml"}
	_, err := services.Build(env)
	if err == nil || !contains(err.Error(), `unknown key "colour"`) || !contains(err.Error(), "config.yaml") {
		t.Fatalf("unknown key: %v", err)
	}
	env.Bot.Service = "nope"
	if _, err := services.Build(env); err == nil || !contains(err.Error(), `unknown service "nope"`) {
		t.Fatalf("unknown service: %v", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
