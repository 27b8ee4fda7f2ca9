//go:build tools

// Package tools pins the Dendrite homeserver used by the end-to-end
// harness (e2e/harness) and `make demo`. Nothing here is linked into
// bizbots; scripts/build-dendrite.sh builds these commands into .cache/.
//
// Dendrite is taken from github.com/matrix-org/dendrite (Apache-2.0).
// Do not switch to the element-hq fork: it is AGPL.
package tools

import (
	_ "github.com/matrix-org/dendrite/cmd/create-account"
	_ "github.com/matrix-org/dendrite/cmd/dendrite"
	_ "github.com/matrix-org/dendrite/cmd/generate-config"
	_ "github.com/matrix-org/dendrite/cmd/generate-keys"
)
