package ordering

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/internal/understand"
)

// cart is the conversation state while a customer shops: the lines, and
// what the checkout has asked so far. It is saved only while it has
// lines, with the cart TTL, so an expired state always was a cart.
type cart struct {
	Lines   []Line `json:"lines"`
	Mode    string `json:"mode,omitempty"`
	Address string `json:"address,omitempty"`
	Note    string `json:"note,omitempty"`
}

// Steps where the next typed text is an answer, not a command.
const (
	stepCart    = "cart"
	stepAddress = "address"
	stepNote    = "note"
)

func (k *cart) total() int64 {
	var sum int64
	for _, l := range k.Lines {
		sum += l.Total()
	}
	return sum
}

func (k *cart) count() int {
	n := 0
	for _, l := range k.Lines {
		n += l.Qty
	}
	return n
}

// save stores the cart (and the step the checkout is at), renewing its
// expiry; an empty cart is dropped.
func (t *turn) save(step string) error {
	if len(t.cart.Lines) == 0 {
		t.c.Goto("", 0)
		return t.c.SetState(nil)
	}
	if err := t.c.SetState(t.cart); err != nil {
		return err
	}
	t.c.Goto(step, t.b.ttl)
	return nil
}

// resetCheckout forgets the checkout answers (after a change to the cart).
func (t *turn) resetCheckout() { t.cart.Mode, t.cart.Address, t.cart.Note = "", "", "" }

// --- browsing ---

func (t *turn) menu() error {
	prompt := t.tr("menu")
	if !t.open() {
		prompt = t.cat.ClosedText(t.c.Now()) + " Here is the menu to look at:"
	}
	opts := make([]handlers.Option, len(t.cat.Categories))
	for i, c := range t.cat.Categories {
		opts[i] = handlers.Opt("cat:"+c.ID, c.Name)
	}
	t.c.Ask(prompt, opts...)
	return nil
}

func (t *turn) category(id string) error {
	c, ok := t.cat.Category(id)
	if !ok {
		return handlers.Errorf(`Sorry, that part of the menu is gone. Say "menu" to see it as it is now.`)
	}
	var opts []handlers.Option
	var soldOut []string
	var shown []*Item
	for _, it := range t.cat.ItemsIn(id) {
		if !it.Available {
			soldOut = append(soldOut, it.Name)
			continue
		}
		opts = append(opts, handlers.Opt("item:"+it.ID, t.itemLabel(it)))
		shown = append(shown, it)
	}
	t.showPictures(shown)
	if len(opts) == 0 {
		t.c.Reply(fmt.Sprintf(`Sorry, all our %s are sold out right now. Say "menu" to pick something else.`, strings.ToLower(c.Name)))
		return nil
	}
	prompt := c.Name + ":"
	if len(soldOut) > 0 {
		prompt += " (sold out right now: " + strings.Join(soldOut, ", ") + ")"
	}
	t.c.Ask(prompt, opts...)
	return nil
}

func (t *turn) itemLabel(it *Item) string {
	label := it.Name
	if it.Description != "" {
		label += " (" + it.Description + ")"
	}
	if len(it.Sizes) > 0 {
		return label + " · from " + t.cat.Money(it.FromPrice())
	}
	return label + " · " + t.cat.Money(it.Price)
}

// item shows one item: its sizes to pick from, or it goes in the cart
// when it has none.
func (t *turn) item(id string) error {
	it := t.cat.Item(id)
	if it == nil {
		return handlers.Errorf(`Sorry, that is no longer on the menu. Say "menu" to see what we have.`)
	}
	return t.addItem(it, "", 1)
}

func (t *turn) askSize(it *Item, qty int, intro string) {
	opts := make([]handlers.Option, len(it.Sizes))
	for i, s := range it.Sizes {
		opts[i] = handlers.Opt(fmt.Sprintf("add:%s:%s:%d", it.ID, s.ID, qty), s.Name+" · "+t.cat.Money(s.Price), sizeSynonyms[s.Short()]...)
	}
	prompt := intro + it.Name
	if it.Description != "" {
		prompt += ": " + it.Description
	}
	if qty > 1 {
		prompt += fmt.Sprintf(". Which size for your %d?", qty)
	} else {
		prompt += ". " + t.tr("which-size")
	}
	t.c.Ask(prompt, opts...)
}

// stopWords are left out of searches and of item names in "add …".
var stopWords = map[string]bool{"a": true, "an": true, "the": true, "of": true, "and": true, "with": true,
	"please": true, "some": true, "me": true, "i": true, "want": true, "like": true, "would": true, "to": true,
	"do": true, "you": true, "have": true, "any": true, "is": true, "there": true, "get": true, "can": true,
	"id": true, "d": true, "something": true, "for": true, "pls": true, "one": true, "also": true, "more": true,
	"what": true, "which": true, "your": true, "got": true, "we": true, "our": true, "just": true, "only": true, "kind": true,
	"kinds": true, "sort": true, "sorts": true, "graag": true, "wat": true, "hebben": true, "jullie": true, "ik": true, "wil": true,
	"een": true, "de": true, "het": true, "mag": true, "alsjeblieft": true, "doe": true, "maar": true,
	"hi": true, "hello": true, "hey": true, "hoi": true, "hallo": true}

// sizeSynonyms are words people use for a size, by the size's own word.
var sizeSynonyms = map[string][]string{
	"large":  {"big", "groot", "grote", "l", "xl"},
	"medium": {"regular", "normal", "normaal", "middel", "m"},
	"small":  {"little", "klein", "kleine", "s"},
}

// sizeWord maps a synonym to the size word it stands for ("groot" →
// "large"), or returns w.
func sizeWord(w string) string {
	for size, syn := range sizeSynonyms {
		for _, s := range syn {
			if s == w && len(s) > 1 {
				return size
			}
		}
	}
	return w
}

func queryWords(s string) []string {
	var out []string
	for _, w := range words(s) {
		if !stopWords[w] {
			out = append(out, w)
		}
	}
	return out
}

// matchWord says whether a typed word means a word of the menu: a prefix
// ("marg"), or the word with a plural ending ("margheritas").
// Typos count too, in proportion to the word's length ("margarita",
// "peperoni").
func matchWord(typed, word string) bool {
	if strings.HasPrefix(word, typed) {
		return true
	}
	if len(word) >= 3 && strings.HasPrefix(typed, word) && len(typed)-len(word) <= 2 {
		return true
	}
	return len([]rune(typed)) >= 4 && understand.Close(typed, word)
}

func matchAll(query, in []string) bool {
	for _, q := range query {
		found := false
		for _, w := range in {
			if matchWord(q, w) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// search finds items by words in their name, description, tags or
// category ("vegan", "pizza", "marg"). As the fallback for text that is
// no command, it says it did not understand when nothing matches.
func (t *turn) search(query string, fallback bool) error {
	if _, isNum := t.m.Number(); isNum && fallback {
		return t.notUnderstood(query) // "5" to a question with 2 options is no search
	}
	q := queryWords(query)
	if len(q) == 0 {
		if fallback {
			return t.notUnderstood(query)
		}
		return t.menu()
	}
	var found []*Item
	for _, it := range t.cat.Items {
		if matchAll(q, it.words) {
			found = append(found, it)
		}
	}
	quoted := strings.Join(q, " ")
	switch {
	case len(found) == 0 && fallback:
		return t.notUnderstood(query)
	case len(found) == 0:
		t.c.Reply(fmt.Sprintf(`Nothing on our menu matches "%s". Say "menu" to see everything.`, quoted))
		return nil
	case len(found) == 1:
		return t.addItem(found[0], "", 1)
	}
	var opts []handlers.Option
	var soldOut []string
	for _, it := range found {
		if it.Available {
			opts = append(opts, handlers.Opt("item:"+it.ID, t.itemLabel(it)))
		} else {
			soldOut = append(soldOut, it.Name)
		}
	}
	if len(opts) == 0 {
		t.c.Reply(fmt.Sprintf("Sorry, everything matching \"%s\" is sold out right now (%s).", quoted, strings.Join(soldOut, ", ")))
		return nil
	}
	prompt := fmt.Sprintf("Here's what matches \"%s\":", quoted)
	if len(soldOut) > 0 {
		prompt += " (sold out right now: " + strings.Join(soldOut, ", ") + ")"
	}
	t.c.Ask(prompt, opts...)
	return nil
}

func (t *turn) notUnderstood(text string) error {
	if t.c.RepeatQuestion(t.m) {
		return nil
	}
	t.c.Reply(t.tr("not-understood", handlers.CapText(strings.Join(strings.Fields(text), " "), 60)))
	return nil
}

// --- adding, removing, changing ---

var qtyTokenRe = regexp.MustCompile(`^(?:[x×](\d+)|(\d+)[x×]?)$`)

// parseQty reads a quantity token: "2", "2x", "x2", "two". ok is false
// when the token is no quantity; err is a polite error when it is one
// outside 1..99.
func parseQty(tok string) (qty int, ok bool, err error) {
	if n := understand.NumberWord(tok); n > 0 {
		return n, true, nil
	}
	m := qtyTokenRe.FindStringSubmatch(tok)
	if m == nil {
		return 0, false, nil
	}
	digits := m[1] + m[2]
	n, convErr := strconv.Atoi(digits)
	switch {
	case convErr != nil || n > maxQty: // too long for an int is too many too
		return 0, true, handlers.Errorf("That's more than we can make in one go: quantities go from 1 to %d.", maxQty)
	case n < 1:
		return 0, true, handlers.Errorf("Please ask for at least 1: quantities go from 1 to %d.", maxQty)
	}
	return n, true, nil
}

// add handles "add 2 margherita large", "2 large margherita", "add cola".
func (t *turn) add(args string) error {
	toks := strings.Fields(strings.ToLower(args))
	qty, haveQty := 1, false
	var rest []string
	for i, tok := range toks {
		if i == 0 && tok == "add" {
			continue
		}
		if !haveQty {
			n, ok, err := parseQty(strings.Trim(tok, ".,!?"))
			if err != nil {
				return err
			}
			if ok {
				qty, haveQty = n, true
				continue
			}
		}
		rest = append(rest, tok)
	}
	var q []string
	size := ""
	for _, w := range queryWords(strings.Join(rest, " ")) {
		if s := sizeWord(w); t.cat.sizeWords[s] && size == "" {
			w = s
		}
		if t.cat.sizeWords[w] && size == "" {
			size = w
			continue
		}
		q = append(q, w)
	}
	if len(q) == 0 {
		if size != "" {
			return handlers.Errorf(`A %s what? Say it like "add 2 margherita %s".`, size, size)
		}
		return t.menu()
	}
	var found []*Item
	for _, it := range t.cat.Items {
		if matchAll(q, it.nameWords) {
			found = append(found, it)
		}
	}
	if len(found) == 0 { // "add vegan pizza": try descriptions and tags too
		for _, it := range t.cat.Items {
			if matchAll(q, it.words) {
				found = append(found, it)
			}
		}
	}
	switch len(found) {
	case 0:
		return handlers.Errorf(`Sorry, we don't have "%s". Say "menu" to see what we have.`, handlers.CapText(strings.Join(q, " "), 60))
	case 1:
		return t.addItem(found[0], size, qty)
	}
	opts := make([]handlers.Option, 0, len(found))
	for _, it := range found {
		if !it.Available {
			continue
		}
		sizeID := ""
		if s, ok := findSize(it, size); ok {
			sizeID = s.ID
		}
		opts = append(opts, handlers.Opt(fmt.Sprintf("add:%s:%s:%d", it.ID, sizeID, qty), t.itemLabel(it)))
	}
	if len(opts) == 0 {
		return handlers.Errorf("Sorry, everything matching \"%s\" is sold out right now.", strings.Join(q, " "))
	}
	t.c.Ask("Which one do you mean?", opts...)
	return nil
}

// findSize finds a size by id or by its short word ("large").
func findSize(it *Item, word string) (Size, bool) {
	if word == "" {
		return Size{}, false
	}
	for _, s := range it.Sizes {
		if s.ID == word || s.Short() == word {
			return s, true
		}
	}
	return Size{}, false
}

// addItem puts qty of an item in the cart, asking the size first when the
// item has sizes and none was given.
func (t *turn) addItem(it *Item, size string, qty int) error {
	if !t.open() {
		return handlers.Errorf(`%s You can still look at the menu.`, t.cat.ClosedText(t.c.Now()))
	}
	if !it.Available {
		return handlers.Errorf(`Sorry, %s is sold out right now. Say "menu" to pick something else.`, it.Name)
	}
	if qty < 1 || qty > maxQty {
		return handlers.Errorf("Quantities go from 1 to %d.", maxQty)
	}
	if len(it.Sizes) > 0 {
		s, ok := findSize(it, size)
		if !ok {
			intro := ""
			if size != "" {
				intro = fmt.Sprintf("We don't have a %s one. ", size)
			}
			t.askSize(it, qty, intro)
			return nil
		}
		size = s.ID
	} else {
		size = ""
	}
	price, _ := it.PriceOf(size)
	i := t.findLine(it.ID, size)
	if i >= 0 && t.cart.Lines[i].Qty+qty > maxQty {
		l := t.cart.Lines[i]
		return handlers.Errorf("You can have at most %d of %s in one order; you already have %d.", maxQty, l.Name, l.Qty)
	}
	if i < 0 {
		if len(t.cart.Lines) >= maxLines {
			return handlers.Errorf("Your cart is full (%d different things). Check out first, or remove something.", maxLines)
		}
		t.cart.Lines = append(t.cart.Lines, Line{Item: it.ID, Size: size})
		i = len(t.cart.Lines) - 1
	}
	l := &t.cart.Lines[i]
	l.Qty += qty
	l.Price, l.Name = price, it.LineName(size)
	t.resetCheckout()
	if err := t.save(stepCart); err != nil {
		return err
	}
	t.c.Reply(t.tr("added", qty, l.Name, t.cat.Money(price*int64(qty)), t.items(t.cart.count()), t.cat.Money(t.cart.total())))
	return nil
}

// items counts items in the customer's language.
func (t *turn) items(n int) string {
	if n == 1 {
		return t.tr("item")
	}
	return t.tr("items", n)
}

func (t *turn) findLine(item, size string) int {
	for i, l := range t.cart.Lines {
		if l.Item == item && l.Size == size {
			return i
		}
	}
	return -1
}

// lineRef finds the cart line a customer means: its number in the cart
// ("2") or words of its name ("margherita", "large margherita").
func (t *turn) lineRef(ref string) (int, error) {
	if len(t.cart.Lines) == 0 {
		return -1, handlers.Errorf(`Your cart is empty. Say "menu" to see what we have.`)
	}
	if n, err := strconv.Atoi(strings.TrimPrefix(ref, "#")); err == nil {
		if n < 1 || n > len(t.cart.Lines) {
			return -1, handlers.Errorf("Your cart has no line %d. %s", n, t.lineHint())
		}
		return n - 1, nil
	}
	q := queryWords(ref)
	var found []int
	for i, l := range t.cart.Lines {
		if matchAll(q, words(l.Name+" "+l.Item+" "+l.Size)) {
			found = append(found, i)
		}
	}
	switch {
	case len(q) == 0 || len(found) == 0:
		return -1, handlers.Errorf(`There's no "%s" in your cart. %s`, handlers.CapText(ref, 60), t.lineHint())
	case len(found) > 1:
		return -1, handlers.Errorf("Which one? %s", t.lineHint())
	}
	return found[0], nil
}

func (t *turn) lineHint() string {
	lines := make([]string, len(t.cart.Lines))
	for i, l := range t.cart.Lines {
		lines[i] = fmt.Sprintf("%d. %d × %s", i+1, l.Qty, l.Name)
	}
	return "Your cart:\n" + strings.Join(lines, "\n") + "\nUse the line number, like \"remove 1\" or \"change 1 to 3\"."
}

// remove handles "remove 1" (line 1), "remove margherita", and "remove 2
// cola" (two fewer colas).
func (t *turn) remove(args string) error {
	if args == "" {
		if len(t.cart.Lines) == 0 {
			return handlers.Errorf(`Your cart is empty. Say "menu" to see what we have.`)
		}
		return handlers.Errorf("What should I remove? %s", t.lineHint())
	}
	if a := strings.ToLower(args); a == "all" || a == "everything" {
		return t.emptyCart()
	}
	toks := strings.Fields(args)
	less := 0
	if len(toks) > 1 {
		n, ok, err := parseQty(strings.ToLower(toks[0]))
		if err != nil {
			return err
		}
		if ok {
			less, toks = n, toks[1:]
		}
	}
	i, err := t.lineRef(strings.Join(toks, " "))
	if err != nil {
		return err
	}
	l := t.cart.Lines[i]
	if less > 0 && less < l.Qty {
		t.cart.Lines[i].Qty -= less
		t.c.Reply(fmt.Sprintf("Took %d × %s out; %d left.", less, l.Name, l.Qty-less))
	} else {
		t.cart.Lines = append(t.cart.Lines[:i], t.cart.Lines[i+1:]...)
		t.c.Reply(fmt.Sprintf("Removed %d × %s.", l.Qty, l.Name))
	}
	t.resetCheckout()
	if err := t.save(stepCart); err != nil {
		return err
	}
	return t.showCart()
}

var digitsRe = regexp.MustCompile(`^\d+$`)

var changeRe = regexp.MustCompile(`(?i)^(.+?)\s+(?:to\s+|=\s*|x\s*)?(\S+)$`)

// change handles "change 1 to 3", "change margherita to 2", "set 2 3".
func (t *turn) change(args string) error {
	m := changeRe.FindStringSubmatch(strings.TrimSpace(args))
	if m == nil {
		return handlers.Errorf(`Say which line and how many, like "change 1 to 3".`)
	}
	ref := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(m[1]), " to"))
	if digitsRe.MatchString(m[2]) && strings.Trim(m[2], "0") == "" {
		return handlers.Errorf(`To take something out of your cart, say "remove %s".`, ref)
	}
	qty, ok, err := parseQty(strings.ToLower(m[2]))
	if err != nil {
		return err
	}
	if !ok {
		return handlers.Errorf(`Say which line and how many, like "change 1 to 3".`)
	}
	i, err := t.lineRef(ref)
	if err != nil {
		return err
	}
	t.cart.Lines[i].Qty = qty
	t.resetCheckout()
	if err := t.save(stepCart); err != nil {
		return err
	}
	t.c.Reply(fmt.Sprintf("Now %d × %s.", qty, t.cart.Lines[i].Name))
	return t.showCart()
}

func (t *turn) emptyCart() error {
	if len(t.cart.Lines) == 0 {
		t.c.Reply(`Your cart is already empty.`)
		return nil
	}
	t.cart = cart{}
	if err := t.save(""); err != nil {
		return err
	}
	t.c.Reply(`Done, your cart is empty. Say "menu" to start again.`)
	return nil
}

// cartText lists the cart with line numbers and totals.
func (t *turn) cartText() string {
	var b strings.Builder
	b.WriteString("Your cart:")
	for i, l := range t.cart.Lines {
		fmt.Fprintf(&b, "\n%d. %d × %s — %s", i+1, l.Qty, l.Name, t.cat.Money(l.Total()))
	}
	fmt.Fprintf(&b, "\nTotal: %s", t.cat.Money(t.cart.total()))
	return b.String()
}

func (t *turn) showCart() error {
	if len(t.cart.Lines) == 0 {
		t.c.Reply(`Your cart is empty. Say "menu" to see what we have.`)
		return nil
	}
	t.c.Reply(t.cartText() + "\n" + `Say "checkout" to order, "remove 1" to take a line out, or "change 1 to 3".`)
	return nil
}

// lineState says whether a cart line can still be sold as it is.
type lineState int

const (
	lineOK lineState = iota
	lineGone
	lineSoldOut
)

// lineNow looks an item and size up in the current catalog: its price
// today, or why it cannot be sold.
func (t *turn) lineNow(item, size string) (int64, lineState) {
	it := t.cat.Item(item)
	if it == nil {
		return 0, lineGone
	}
	price, ok := it.PriceOf(size)
	switch {
	case !ok:
		return 0, lineGone
	case !it.Available:
		return price, lineSoldOut
	}
	return price, lineOK
}

// reprice checks the cart against the catalog as it is now: lines whose
// item is gone or sold out are removed, changed prices are updated. It
// returns what changed, in words for the customer.
func (t *turn) reprice() []string {
	var changes []string
	kept := t.cart.Lines[:0]
	for _, l := range t.cart.Lines {
		price, state := t.lineNow(l.Item, l.Size)
		switch {
		case state == lineGone:
			changes = append(changes, fmt.Sprintf("%s is no longer on the menu, so I took it out of your cart.", l.Name))
			continue
		case state == lineSoldOut:
			changes = append(changes, fmt.Sprintf("%s is sold out right now, so I took it out of your cart.", l.Name))
			continue
		case price != l.Price:
			changes = append(changes, fmt.Sprintf("%s now costs %s (was %s).", l.Name, t.cat.Money(price), t.cat.Money(l.Price)))
			l.Price = price
		}
		l.Name = t.cat.Item(l.Item).LineName(l.Size)
		kept = append(kept, l)
	}
	t.cart.Lines = kept
	return changes
}
