// Package ordering is the ordering service (service id "ordering"): a
// shop's catalog in chat. Customers browse categories → items → sizes or
// search by words, fill a cart ("add 2 margherita large"), check out for
// delivery or pickup, and follow their order as staff move it through
// received → preparing → ready → out for delivery → delivered (or
// cancelled) from a staff room. It remembers the delivery address and
// offers "the usual" to returning customers.
//
// It does not take payments, compute taxes or handle stock levels: an
// item is available or sold out, set in the catalog.
//
// Orders live in the service's own tables (store/upgrades/04-ordering.sql),
// written in the turn's transaction; the cart is the conversation state.
package ordering

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/backoffice"
	"github.com/bizbots/bizbots/services"
	"github.com/bizbots/bizbots/services/staffroom"
	"github.com/bizbots/bizbots/store"
)

// ServiceID is the id bots use in `service:`.
const ServiceID = "ordering"

// Config is the service's config block.
type Config struct {
	// Shop is the business's name in messages ("Pizza Place"). Default:
	// the bot's display name.
	Shop string `yaml:"shop"`
	// StaffRoom is the room (an id, "!abc:example.org") where new orders
	// are announced and staff change their status with "!order 1042
	// ready". The bot must be invited to it. Empty: no staff room.
	StaffRoom string `yaml:"staff_room"`
	// Staff, when set, lists the only users whose staff commands count.
	// Without it, members of the staff room with at least
	// StaffPowerLevel (default 50, a moderator) may give them.
	Staff           []string `yaml:"staff"`
	StaffPowerLevel *int     `yaml:"staff_power_level"`
	// CartTTL is how long a cart is kept without activity (default 2h).
	CartTTL config.Duration `yaml:"cart_ttl"`
	// CatalogFile is a YAML or CSV catalog, relative to the config file's
	// folder. It is read again when it changes.
	CatalogFile string `yaml:"catalog_file"`
	// Catalog is the catalog inline; with a CSV CatalogFile, its currency,
	// hours, time zone, delivery fee and categories. Neither given: the
	// demo pizzeria (DefaultCatalog).
	Catalog CatalogConfig `yaml:"catalog"`
	// ReadyIn is how long a pickup order usually takes (default 20m);
	// DeliveryIn how long a delivery takes to arrive (default 45m). The
	// customer is told the time when they order and when they ask.
	ReadyIn    config.Duration `yaml:"ready_in"`
	DeliveryIn config.Duration `yaml:"delivery_in"`
	// Texts override or add to the service's texts per language
	// ({nl: {greet-new: "…"}}); see docs/services/ordering.md.
	Texts handlers.Texts `yaml:"texts"`
}

func init() {
	services.Register(ServiceID, func(env services.Env) (handlers.Handler, error) {
		cfg := Config{Shop: env.Bot.DisplayName}
		if err := services.DecodeConfig(env, &cfg); err != nil {
			return nil, err
		}
		if cfg.CatalogFile != "" && !filepath.IsAbs(cfg.CatalogFile) {
			cfg.CatalogFile = filepath.Join(filepath.Dir(env.ConfigFile), cfg.CatalogFile)
		}
		b, err := New(cfg, env.DB)
		if err == nil {
			err = b.UsePictures(env.Media, filepath.Dir(env.ConfigFile))
		}
		if err != nil {
			return nil, fmt.Errorf("%s: bot %s config: %w", env.ConfigFile, env.Bot.Localpart, err)
		}
		return b, nil
	})
}

// Limits on what a customer can put in a cart.
const (
	maxQty   = 99
	maxLines = 30
)

// Bot is the ordering handler of one bot.
type Bot struct {
	shop      string
	staffRoom id.RoomID
	staffAuth staffroom.Policy
	ttl       time.Duration
	src       *source
	orders    orderQuery
	h         handlers.Handler
	router    *handlers.Router

	readyIn, deliveryIn time.Duration
	// texts are the config's texts with the console's edits (see
	// settings.go).
	texts *backoffice.Texts
	pics  *pictures

	// numberHook, when set (tests), runs after an order number is picked
	// and before the order is committed, to make a race reproducible.
	numberHook func(ctx context.Context, n int64)
}

var (
	_ handlers.Welcomer     = (*Bot)(nil)
	_ handlers.Watcher      = (*Bot)(nil)
	_ handlers.Forgetter    = (*Bot)(nil)
	_ handlers.ForgetWarner = (*Bot)(nil)
)

// New validates cfg and builds the bot; db is where orders are read
// (they are written in each turn's transaction).
func New(cfg Config, db *store.DB) (*Bot, error) {
	if db == nil {
		return nil, errors.New("ordering needs a database")
	}
	b := &Bot{shop: strings.TrimSpace(cfg.Shop), ttl: cfg.CartTTL.D(), orders: orderQuery{db},
		readyIn: cfg.ReadyIn.D(), deliveryIn: cfg.DeliveryIn.D(), pics: newPictures(nil, ".")}
	if err := texts.Check(cfg.Texts); err != nil {
		return nil, err
	}
	b.texts = backoffice.NewTexts(texts.Merge(cfg.Texts),
		backoffice.EditableText{Key: "greet-new", Label: "Welcome (new customer)", Help: "%s is the customer's name, then the shop's name: keep both, in that order."},
		backoffice.EditableText{Key: "greet-back", Label: "Welcome (returning customer)", Help: "%s is the customer's name: keep it."})
	if b.readyIn == 0 {
		b.readyIn = 20 * time.Minute
	}
	if b.deliveryIn == 0 {
		b.deliveryIn = 45 * time.Minute
	}
	if b.readyIn < 0 || b.readyIn > 24*time.Hour || b.deliveryIn < 0 || b.deliveryIn > 24*time.Hour {
		return nil, fmt.Errorf("ready_in, delivery_in: %s and %s must be between 1m and 24h", b.readyIn, b.deliveryIn)
	}
	if b.shop == "" {
		b.shop = "our shop"
	}
	if b.ttl == 0 {
		b.ttl = 2 * time.Hour
	}
	if b.ttl < time.Minute || b.ttl > 30*24*time.Hour {
		return nil, fmt.Errorf("cart_ttl: %s must be between 1m and 720h", b.ttl)
	}
	staff, err := staffroom.New(cfg.StaffRoom, cfg.Staff, cfg.StaffPowerLevel)
	if err != nil {
		return nil, err
	}
	b.staffAuth, b.staffRoom = staff, staff.Room
	cc := cfg.Catalog
	if cfg.CatalogFile == "" && len(cc.Items) == 0 {
		if cc.Currency != "" || cc.TimeZone != "" || len(cc.Hours) > 0 || len(cc.Categories) > 0 || cc.DeliveryFee != 0 {
			return nil, errors.New("catalog.items: the catalog has no items (leave out the whole catalog block to use the demo pizzeria)")
		}
		cc = DefaultCatalog()
	}
	src, err := newSource(cc, cfg.CatalogFile)
	if err != nil {
		return nil, err
	}
	b.src = src

	do := func(fn func(t *turn) error) handlers.HandlerFunc {
		return func(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
			t, err := b.newTurn(ctx, c, m)
			if err != nil {
				return err
			}
			return fn(t)
		}
	}
	withArgs := func(fn func(t *turn, args string) error) handlers.HandlerFunc {
		return do(func(t *turn) error { return fn(t, handlers.CommandArgs(t.m.Text())) })
	}
	b.router = handlers.NewRouter().
		CommandFunc(do((*turn).menu), "menu", "order", "browse", "food", "categories", "start order", "what do you have",
			"what have you got", "what's on the menu", "whats on the menu", "the menu", "wat hebben jullie", "menukaart", "kaart", "🍕").
		CommandFunc(do((*turn).showCart), "cart", "basket", "my cart", "show cart", "view cart", "show my cart", "what's in my cart",
			"whats in my cart", "what is in my cart", "mandje").
		CommandFunc(do((*turn).checkout), "checkout", "check out", "pay", "place order", "done", "that's all", "thats all", "finish",
			"i'm done", "im done", "that's it", "thats it", "that is all", "afrekenen", "klaar", "dat was het", "dat is alles", "bestellen").
		CommandFunc(do((*turn).emptyCart), "empty cart", "clear cart", "empty my cart", "clear my cart", "remove all").
		CommandFunc(do((*turn).status), "status", "order status", "where is my order", "where's my order", "track", "track order", "track my order").
		CommandFunc(do((*turn).usual), "the usual", "usual", "same as last time", "same again", "reorder", "order again", "my usual").
		CommandFunc(do((*turn).hours), "hours", "opening hours", "when are you open", "are you open", "open").
		CommandFunc(do((*turn).help), "help", "?", "commands", "what can you do", "hulp", "help me").
		CommandFunc(do((*turn).greet), "hi", "hello", "hey", "hallo", "start", "good morning", "good afternoon", "good evening",
			"hi there", "hey there", "hoi", "goedemorgen", "goedemiddag", "goedenavond").
		CommandFunc(do((*turn).ack), "👍", "👌", "ok", "okay", "cool", "great", "nice", "prima", "oké").
		Prefix("add", withArgs((*turn).add)).
		Prefix("and", withArgs((*turn).add)).
		Prefix("also", withArgs((*turn).add)).
		Prefix("plus", withArgs((*turn).add)).
		Prefix("cancel", withArgs((*turn).cancel)).
		Prefix("remove", withArgs((*turn).remove)).
		Prefix("delete", withArgs((*turn).remove)).
		Prefix("change", withArgs((*turn).change)).
		Prefix("set", withArgs((*turn).change)).
		Prefix("search", withArgs(func(t *turn, q string) error { return t.search(q, false) })).
		Prefix("find", withArgs(func(t *turn, q string) error { return t.search(q, false) })).
		Regexp(whereRe, do((*turn).status)).
		Regexp(etaRe, do((*turn).eta)).
		Regexp(thanksRe, do((*turn).thanks)).
		Regexp(readyRe, do((*turn).status)).
		Regexp(makeItRe, do((*turn).makeIt)).
		Regexp(totalRe, do((*turn).showCart)).
		Regexp(openRe, do((*turn).hours)).
		Regexp(pickupRe, do(func(t *turn) error { return t.checkoutAs(Pickup, "") })).
		Regexp(deliverRe, do((*turn).deliver)).
		Regexp(cartRe, do((*turn).showCart)).
		Regexp(leadingQtyRe, do(func(t *turn) error { return t.add(t.m.Text()) })).
		Regexp(leadingWrd, do(func(t *turn) error { return t.add(t.m.Text()) })).
		Fallback(do(func(t *turn) error { return t.search(t.m.Text(), true) }))
	b.h = handlers.Chain(handlers.HandlerFunc(b.route),
		handlers.Recover(), handlers.Logging(), handlers.Metrics(), handlers.RateLimit(1, 10))
	return b, nil
}

var (
	whereRe      = regexp.MustCompile(`(?i)\bwhere('?s| is)\b.*\b(order|pizza|food|delivery)\b`)
	leadingQtyRe = regexp.MustCompile(`^\s*\d+\s*[x×]?\s+\pL`)
)

// UsePictures shows the catalog's item images, uploaded through m (nil:
// text only), with relative image paths read from dir (the config file's
// folder). It refuses a catalog whose image files cannot be read.
func (b *Bot) UsePictures(m handlers.Media, dir string) error {
	p := newPictures(m, dir)
	if err := p.check(b.src.get(context.Background())); err != nil {
		return err
	}
	b.pics = p
	return nil
}

// Handle implements handlers.Handler.
func (b *Bot) Handle(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	return b.h.Handle(ctx, c, m)
}

// Watches implements handlers.Watcher: the bot reads every message of its
// staff room.
func (b *Bot) Watches(room id.RoomID) bool { return b.staffRoom != "" && room == b.staffRoom }

// ForgetCustomer implements handlers.Forgetter: the customer's orders are
// anonymised (see forgetCustomer).
func (b *Bot) ForgetCustomer(ctx context.Context, tx store.Tx, bot, customer id.UserID) error {
	return forgetCustomer(ctx, tx, bot, customer)
}

// Catalog is the catalog the bot sells from right now.
func (b *Bot) Catalog(ctx context.Context) *Catalog { return b.src.get(ctx) }

// route sends staff-room messages to the staff commands and everything
// else to the customer's side: an answer to a question, a free-text step
// of the checkout, or a command.
func (b *Bot) route(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	if b.staffRoom != "" && c.Room == b.staffRoom {
		return b.staff(ctx, c, m)
	}
	if m.Kind == handlers.KindTimer || m.Kind == handlers.KindRedaction {
		return nil
	}
	if c.ExpiredStep() == "" {
		return b.customer(ctx, c, m)
	}
	expired := fmt.Sprintf("Your cart expired after %s without activity, so I emptied it.", humanDuration(b.ttl))
	c.Notice(expired)
	err := b.customer(ctx, c, m)
	var ue *handlers.UserError
	if errors.As(err, &ue) {
		// The framework drops a failed turn's replies, the notice with
		// them; drop the turn the same way but keep both texts.
		c.Reset()
		c.Notice(expired)
		c.Notice(ue.Text)
		return nil
	}
	return err
}

// customer handles a message from a customer.
func (b *Bot) customer(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	t, err := b.newTurn(ctx, c, m)
	if err != nil {
		return err
	}
	if m.Choice != nil && m.Choice.Key == "mode:"+Delivery && m.IsText() && looksLikeAddress(m.Text()) {
		return t.deliver() // "deliver to Damrak 1, 1012 AB Amsterdam"
	}
	if m.Choice != nil {
		return t.choice(m.Choice.Key)
	}
	if !m.IsText() {
		if m.Kind == handlers.KindMessage {
			c.Reply(`I can only read text. Say "menu" to see what we have.`)
		}
		return nil
	}
	// A checkout question is open: "cancel", "stop" and (to "delivery or
	// pickup?") "no wait" leave the checkout; an address typed at
	// "delivery or pickup?" means delivery there.
	cmd := m.Command()
	checkout := c.Step() == stepAddress || c.Step() == stepNote || t.asking("mode:", "addr:", "confirm:", "note:")
	if checkout && (cmd == handlers.CommandCancel || cmd == handlers.CommandStop) {
		return t.stopCheckout()
	}
	if t.asking("mode:") {
		if no, ok := m.YesNo(); ok && !no {
			return t.stopCheckout()
		}
		if looksLikeAddress(m.Text()) {
			t.cart.Mode = Delivery
			return t.address(m.Text())
		}
	}
	// A free-text step takes the text, unless it is exactly a command.
	if cmd == "" {
		switch c.Step() {
		case stepAddress:
			return t.address(m.Text())
		case stepNote:
			return t.note(m.Text())
		}
	}
	return b.router.Handle(ctx, c, m)
}

// Welcome implements handlers.Welcomer.
func (b *Bot) Welcome(ctx context.Context, c *handlers.Conversation) error {
	if b.staffRoom != "" && c.Room == b.staffRoom {
		c.Notice(fmt.Sprintf("Hello! I'll post new %s orders here.\n%s", b.shop, staffHelp))
		return nil
	}
	t, err := b.newTurn(ctx, c, &handlers.Message{})
	if err != nil {
		return err
	}
	return t.greet()
}

// turn is one customer message being handled: the catalog as it is now
// and the customer's cart.
type turn struct {
	b    *Bot
	ctx  context.Context
	c    *handlers.Conversation
	m    *handlers.Message
	cat  *Catalog
	cart cart
}

func (b *Bot) newTurn(ctx context.Context, c *handlers.Conversation, m *handlers.Message) (*turn, error) {
	t := &turn{b: b, ctx: ctx, c: c, m: m, cat: b.src.get(ctx)}
	if _, err := c.State(&t.cart); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *turn) open() bool { return t.cat.OpenAt(t.c.Now()) }

// asking says whether the open question is one of the bot's questions
// whose option keys start with one of prefixes.
func (t *turn) asking(prefixes ...string) bool {
	q := t.c.Question()
	if q == nil || len(q.Options) == 0 {
		return false
	}
	for _, p := range prefixes {
		if strings.HasPrefix(q.Options[0].Key, p) {
			return true
		}
	}
	return false
}

// greet welcomes a new customer by name, and offers a returning one their
// last order.
func (t *turn) greet() error {
	name := t.c.Customer.Name()
	last, err := t.lastOrder()
	if err != nil {
		return err
	}
	closed := ""
	if !t.open() {
		closed = " " + t.cat.ClosedText(t.c.Now()) + ` You can still look at the menu: say "menu".`
	}
	if len(last) == 0 {
		if t.c.Customer.New || t.c.Customer.LastSeen.IsZero() {
			t.c.Reply(t.tr("greet-new", name, t.b.shop) + closed)
		} else {
			t.c.Reply(t.tr("greet-back", name) + closed)
		}
		return nil
	}
	if closed != "" {
		t.c.Reply(fmt.Sprintf("Welcome back, %s.", name) + closed)
		return nil
	}
	t.c.Ask(t.tr("greet-usual", name, t.usualPhrase(last[0].Lines)),
		handlers.Opt("usual:yes", t.tr("usual-yes")), handlers.Opt("usual:no", t.tr("usual-no"), "something else", "iets anders", "other", "menu"))
	return nil
}

// usualPhrase reads an order the way people say it: "large margherita",
// "2 × large margherita and cola".
func (t *turn) usualPhrase(lines []Line) string {
	parts := make([]string, len(lines))
	for i, l := range lines {
		name := strings.ToLower(l.Name)
		if it := t.cat.Item(l.Item); it != nil {
			name = strings.ToLower(it.Name)
			if s, ok := it.Size(l.Size); ok {
				name = s.Short() + " " + name
			}
		}
		if l.Qty > 1 {
			name = fmt.Sprintf("%d × %s", l.Qty, name)
		}
		parts[i] = name
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

func (t *turn) help() error {
	t.c.Reply(t.tr("help", t.b.shop))
	return nil
}

func (t *turn) hours() error {
	state := "We're open now."
	if !t.open() {
		state = t.cat.ClosedText(t.c.Now())
	}
	t.c.Reply(fmt.Sprintf("Opening hours (%s time): %s. %s", t.cat.Location, t.cat.HoursText(), state))
	return nil
}

// choice handles an answer to one of the bot's questions; the option key
// says what it was about.
func (t *turn) choice(key string) error {
	kind, arg, _ := strings.Cut(key, ":")
	switch kind {
	case "cat":
		return t.category(arg)
	case "item":
		return t.item(arg)
	case "add":
		parts := strings.Split(arg, ":")
		if len(parts) != 3 {
			return fmt.Errorf("malformed option key %q", key)
		}
		it := t.cat.Item(parts[0])
		if it == nil {
			return handlers.Errorf("Sorry, that is no longer on the menu.")
		}
		var qty int
		if _, err := fmt.Sscan(parts[2], &qty); err != nil {
			return fmt.Errorf("malformed option key %q", key)
		}
		return t.addItem(it, parts[1], qty)
	case "usual":
		if arg == "yes" {
			return t.usual()
		}
		return t.menu()
	case "mode":
		return t.mode(arg)
	case "addr":
		return t.addressChoice(arg)
	case "note":
		return t.note("")
	case "confirm":
		return t.confirm(arg == "yes")
	case "cancel":
		return t.cancelChoice(arg)
	}
	return fmt.Errorf("unknown option key %q", key)
}

// HoursText describes the opening hours: "every day 11:00–23:00" or
// "Mon 11:00–22:00, Tue closed, …".
func (c *Catalog) HoursText() string {
	if c.alwaysOpen {
		return "always open"
	}
	order := []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}
	text := make([]string, len(order))
	for i, wd := range order {
		var spans []string
		for _, s := range c.hours[wd] {
			spans = append(spans, fmt.Sprintf("%02d:%02d–%02d:%02d", s.from/60, s.from%60, s.to/60, s.to%60))
		}
		text[i] = strings.Join(spans, ", ")
		if text[i] == "" {
			text[i] = "closed"
		}
	}
	same := true
	for _, s := range text[1:] {
		same = same && s == text[0]
	}
	if same {
		return "every day " + text[0]
	}
	for i, wd := range order {
		text[i] = wd.String()[:3] + " " + text[i]
	}
	return strings.Join(text, ", ")
}

func humanDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", int(d.Hours()))
	case d%time.Minute == 0:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	}
	return d.String()
}
