// Command comparator is the yardstick of bizbots' performance benchmark:
// an echo bot written the way mautrix-go's appservice users write one. It
// acknowledges each transaction from memory (mautrix answers 200 before
// any handler runs), handles every event in a goroutine of its own and
// answers with intent.SendText. Nothing is stored, so a crash loses what
// it held and nothing stops two replies to one message; that is the
// point of comparison, not a model.
//
// Configured by environment: LISTEN (host:port), HS_URL, AS_TOKEN,
// HS_TOKEN, DOMAIN, BOT (localpart).
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

func main() {
	host, portStr, err := net.SplitHostPort(os.Getenv("LISTEN"))
	if err != nil {
		fail(err)
	}
	port, _ := strconv.Atoi(portStr)
	reg := appservice.CreateRegistration()
	reg.ID = "comparator"
	reg.AppToken, reg.ServerToken = os.Getenv("AS_TOKEN"), os.Getenv("HS_TOKEN")
	reg.SenderLocalpart = os.Getenv("BOT")
	reg.URL = "http://" + os.Getenv("LISTEN")
	as, err := appservice.CreateFull(appservice.CreateOpts{
		Registration:     reg,
		HomeserverDomain: os.Getenv("DOMAIN"),
		HomeserverURL:    os.Getenv("HS_URL"),
		HostConfig:       appservice.HostConfig{Hostname: host, Port: uint16(port)},
	})
	if err != nil {
		fail(err)
	}
	bot := as.BotIntent()
	ep := appservice.NewEventProcessor(as)
	ep.On(event.EventMessage, func(ctx context.Context, evt *event.Event) {
		if evt.Sender == bot.UserID {
			return
		}
		msg := evt.Content.AsMessage()
		if msg.MsgType != event.MsgText {
			return
		}
		// A goroutine per event, as the event processor's users do.
		go func(room id.RoomID, body string) {
			_, _ = bot.SendText(context.Background(), room, "You said: "+body)
		}(evt.RoomID, msg.Body)
	})
	go ep.Start(context.Background())
	go as.Start()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	as.Stop()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "comparator:", err)
	os.Exit(1)
}
