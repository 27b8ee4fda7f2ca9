package store

import (
	"strconv"
	"strings"
	"testing"
)

// A query that writes must take the write gate: one that slipped past it
// would wait in SQLite's busy handler instead of in line.
func TestWritesTellsWritingQueries(t *testing.T) {
	for query, want := range map[string]bool{
		"SELECT 1": false,
		"  \n\tselect seq FROM inbox WHERE room_id = $1":      false,
		"INSERT INTO inbox (event_id) VALUES ($1)":            true,
		"\n\t\tinsert into x VALUES (1)":                      true,
		"Update outbox SET status = 'sent'":                   true,
		"DELETE FROM room_lease WHERE owner = $1":             true,
		"replace INTO bb_meta VALUES ($1, $2)":                true,
		"WITH d AS (SELECT 1) UPDATE x SET y = 1 RETURNING y": true,
		"with d as (select 1) delete from x returning y":      true,
		"SELECT returned_at FROM x":                           false,
		"SELECT 'returning' FROM x":                           true, // errs on the safe side
		"":                                                    false,
		"INS":                                                 false,
	} {
		for range 2 { // the second answer comes from memory
			if got := writes(query); got != want {
				t.Errorf("writes(%q) = %v, want %v", query, got, want)
			}
		}
	}
}

func BenchmarkWrites(b *testing.B) {
	query := "SELECT 0, bot_user_id FROM bot_rooms WHERE room_id = $1" + strings.Repeat(" UNION ALL SELECT 1, '' FROM room_members WHERE room_id = $1", 20)
	for b.Loop() {
		if writes(query) {
			b.Fatal("a read taken for a write")
		}
	}
}

// Texts built at run time must not grow writes' memory without bound.
func TestWritesMemoryIsBounded(t *testing.T) {
	for i := range 3 * maxWritingQueries {
		if writes("SELECT " + strconv.Itoa(i)) {
			t.Fatal("a read taken for a write")
		}
	}
	kept := 0
	writingQueries.Range(func(any, any) bool { kept++; return true })
	if kept > maxWritingQueries {
		t.Fatalf("%d query texts kept, want at most %d", kept, maxWritingQueries)
	}
}
