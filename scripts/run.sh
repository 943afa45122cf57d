#!/usr/bin/env bash
# run.sh BINARY — what `make run` does after building: start the server in the foreground with
# the embedded defaults (127.0.0.1:8080, ./pahara-data), after saying what to do next.
# PAHARA_LISTEN and PAHARA_DATA override the address and the data directory.
set -euo pipefail

bin=${1:?usage: scripts/run.sh path/to/pahara}
listen=${PAHARA_LISTEN:-127.0.0.1:8080}
data=${PAHARA_DATA:-./pahara-data}

cat <<MSG
Starting Pahara on http://$listen (data in $data; Ctrl-C stops it).

In another terminal:
  echo 'correct horse battery' | $bin admin --data $data user add alice
  curl -s http://$listen/v1/login -H 'Content-Type: application/json' \\
       -d '{"username":"alice","password":"correct horse battery","client":"web"}'

Then turn on the code generator with the session you get: see README.md (the tour) and
docs/api.md.  '$bin code SECRET' prints the code an authenticator app would show.

MSG
exec "$bin" serve --listen "$listen" --data "$data"
