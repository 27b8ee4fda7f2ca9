module github.com/bizbots/bizbots

go 1.26.8

require (
	github.com/lib/pq v1.12.3
	github.com/mattn/go-sqlite3 v1.14.53
	gopkg.in/yaml.v3 v3.0.1
	maunium.net/go/mautrix v0.32.0
)

require go.mau.fi/util v0.11.0 // indirect
