#!/bin/sh
# hello: greets whoever is named, or the world.
name="${1:-world}"
greeting="${GREETING:-Hello}"
printf '%s, %s!\n' "$greeting" "$name"
