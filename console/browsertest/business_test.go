package browsertest

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/bizbots/bizbots/internal/fakehs"
)

const (
	shopBot  = "@shop:example.org"
	shopRoom = "!carla-shop:example.org"
	danRoom  = "!dan-shop:example.org"
	dan      = "@dan:example.org"
)

// say is a customer's message to the shop, waiting for the shop's answer.
func (b *bizbots) say(t *testing.T, room, from, text, answer string) {
	t.Helper()
	b.push(t, fakehs.Message(room, from, text))
	b.waitFor(t, shopBot, room, answer)
}

// The owner's day beyond the inbox: an order arrives live and is moved
// (the customer told once), a price changes and the bot asks the new
// one, a broadcast reaches the subscribed customer only.
func TestBoardCatalogBroadcastInTheBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test; skipped with -short")
	}
	b := startBizbots(t)
	ctx := browser(t)

	run(t, ctx, "sign in",
		chromedp.Navigate(b.console+"/b/shop/orders"),
		chromedp.WaitVisible(chromedp.CSS(`#user`)),
		chromedp.SendKeys(chromedp.CSS(`#user`), "alice"),
		chromedp.SendKeys(chromedp.CSS(`#password`), "correct horse"),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button`)),
		chromedp.WaitVisible(`//h1[normalize-space()="Orders"]`),
		chromedp.WaitReady(chromedp.CSS(`body[data-live-open]`)),
	)

	// Carla orders while the board is open; Dan only says hello.
	b.hs.SetMembers(shopRoom, map[string]string{customer: "Carla", shopBot: "Slice Shop"})
	b.push(t, fakehs.Invite(shopRoom, customer, shopBot, true))
	b.waitFor(t, shopBot, shopRoom, "welcome to Slice Shop")
	b.hs.SetMembers(danRoom, map[string]string{dan: "Dan", shopBot: "Slice Shop"})
	b.push(t, fakehs.Invite(danRoom, dan, shopBot, true))
	b.waitFor(t, shopBot, danRoom, "welcome to Slice Shop")
	b.say(t, shopRoom, customer, "add 2 margherita", "Added 2 × Margherita (€25.00)")
	b.say(t, shopRoom, customer, "checkout", "Delivery or pickup?")
	b.say(t, shopRoom, customer, "pickup", "Any note for us?")
	b.say(t, shopRoom, customer, "extra basil please", "Place this order?")
	b.say(t, shopRoom, customer, "yes", "Your order number is 1001.")

	const ready = "Your order 1001 is ready for pickup at Slice Shop."
	run(t, ctx, "the order arrives on the board without a reload",
		chromedp.WaitVisible(`//section[.//h2[@id="col-received"]]//li[contains(., "Order 1001")][contains(., "extra basil please")]`),
		screenshot(t, "orders"),
	)
	run(t, ctx, "move it to ready, with a double click",
		chromedp.DoubleClick(`//li[@id="order-1001"]//button[normalize-space()="Ready"]`),
		chromedp.WaitVisible(`//p[@role="status"][contains(., "Order moved") or contains(., "already made")]`),
		chromedp.WaitVisible(`//section[.//h2[@id="col-ready"]]//li[contains(., "Order 1001")]`),
	)
	b.waitFor(t, shopBot, shopRoom, ready)
	run(t, ctx, "the board on a phone",
		chromedp.Navigate(b.console+"/b/shop/orders"),
		chromedp.EmulateViewport(390, 844),
		chromedp.WaitVisible(`//li[@id="order-1001"]`),
		screenshot(t, "orders-phone"),
		chromedp.EmulateViewport(1200, 900),
	)

	run(t, ctx, "change a price",
		chromedp.Click(`//nav[contains(@class,"bot-nav")]//a[normalize-space()="Catalog & settings"]`),
		chromedp.WaitVisible(chromedp.CSS(`#s-item-margherita-price`)),
		chromedp.SetValue(chromedp.CSS(`#s-item-margherita-price`), "13,5"),
		chromedp.Click(`//button[normalize-space()="Save changes"]`),
		chromedp.WaitVisible(`//p[@role="status"][contains(., "Saved")]`),
		chromedp.WaitVisible(`//table[contains(@class,"audit")]//tr[contains(., "Margherita · Price")][contains(., "12.50")][contains(., "13.50")][contains(., "`+alice+`")]`),
	)
	b.say(t, shopRoom, customer, "add 1 margherita", "Added 1 × Margherita (€13.50)")
	run(t, ctx, "a wrong price is refused with the reason",
		chromedp.SetValue(chromedp.CSS(`#s-item-funghi-price`), "0"),
		chromedp.SetValue(chromedp.CSS(`#s-item-cola-name`), " "),
		chromedp.Click(`//button[normalize-space()="Save changes"]`),
		chromedp.WaitVisible(`//p[@id="s-item-funghi-price-err"][contains(., "more than 0.00")]`),
		chromedp.WaitVisible(`//p[@id="s-item-cola-name-err"][contains(., "needs a name")]`),
		chromedp.WaitVisible(chromedp.CSS(`#s-item-funghi-price[aria-invalid="true"]`)),
		screenshot(t, "catalog"),
	)
	b.say(t, shopRoom, customer, "add 1 funghi", "Added 1 × Funghi (€13.50)")

	// Carla subscribes; Dan does not.
	b.say(t, shopRoom, customer, "subscribe", "You're subscribed")
	const news = "New this week: pizza funghi with truffle."
	run(t, ctx, "write, preview and confirm a broadcast",
		chromedp.Click(`//nav[contains(@class,"bot-nav")]//a[normalize-space()="Broadcast"]`),
		chromedp.WaitVisible(chromedp.CSS(`#bc-text`)),
		chromedp.SendKeys(chromedp.CSS(`#bc-text`), news),
		chromedp.Click(`//button[normalize-space()="Preview"]`),
		chromedp.WaitVisible(`//strong[@id="recipients"][normalize-space()="1 customer"]`),
		screenshot(t, "broadcast"),
		chromedp.Click(`//button[starts-with(normalize-space(), "Send to 1 customer")]`),
		chromedp.WaitVisible(`//p[@role="status"][contains(., "Broadcast confirmed")]`),
		chromedp.WaitVisible(`//li[contains(@class,"broadcast")][contains(., "1 of 1 sent")]`),
	)
	b.waitFor(t, shopBot, shopRoom, news)
	if n := b.sentBy(shopBot, danRoom, news); n != 0 {
		t.Fatal("the broadcast reached a customer who did not subscribe")
	}
	if n := b.sentBy(shopBot, shopRoom, news); n != 1 {
		t.Fatalf("the subscriber got the broadcast %d times", n)
	}
	// Everything queued before the broadcast has been sent by now.
	if n := b.sentBy(shopBot, shopRoom, ready); n != 1 {
		t.Fatalf("the customer was told %d times that the order is ready", n)
	}

	run(t, ctx, "another business's board is out of reach",
		chromedp.Navigate(b.console+"/b/taxi/orders"),
		chromedp.WaitVisible(`//p[@role="alert"][contains(., "not one of its staff")]`),
	)
}
