// Package corpus holds the conversation corpus: a few hundred things
// customers actually type to the built-in ordering, taxi and support bots
// (typos, synonyms, English and Dutch, emoji, off-script questions), each
// with what the bot must understand from it. The corpus lives in
// testdata/corpus.txt and runs as an ordinary go test against the real
// services on real storage; the package has no code of its own.
package corpus
