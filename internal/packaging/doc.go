// Package packaging holds the tests of hanode's Debian package (make deb):
// what it contains, what lintian says of it, what its maintainer scripts
// do to the systemd unit on installation, upgrade and removal, and that it
// installs beside Debian's heartbeat, runs, upgrades under a running
// binary and purges without touching heartbeat's files. It has no code of
// its own: the package is built by the Makefile from dist/.
package packaging
