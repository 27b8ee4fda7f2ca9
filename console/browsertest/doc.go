// Package browsertest drives the business console in a real headless
// Chromium (Debian's chromium, installed by scripts/install-browser.sh from
// `make deps`) against a running bizbots binary and a fake homeserver: the
// tests are what a business's staff do, click by click. Run with
// -update-screenshots to refresh the pictures in docs/.
package browsertest
