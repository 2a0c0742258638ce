# Shared helpers for the integration tests' checks (sourced, not run): pass/fail counting,
# a summary line, a free loopback port, waiting for a log line.
#
#   source "$TMKMS_SOURCE_DIR/tests/lib/check.sh"
#   [[ $x == 1 ]] && ok "x is 1" || bad "x is $x"   # "ok   x is 1" / "FAIL: x is 2"
#   cmp -s a b && ok || bad "a and b differ"       # ok without text counts silently
#   port=$(free_port)
#   wait_grep "$work/tmkms.log" 'listening on' 10 || bad "tmkms did not listen"
#   check_summary                                  # "N passed, M failed"; false if M > 0
#
# Variables: passed, failed (set to 0 here, so source this before the first check).
# ok and bad always return 0, so "cond && bad ... || ok ..." counts exactly one of them.
# Needs python3 (free_port).

passed=0
failed=0

# ok [TEXT]: counts a passed check; prints "ok   TEXT" when given TEXT.
ok() {
  passed=$((passed + 1))
  if (($#)); then echo "ok   $*"; fi
  return 0
}

# bad TEXT: counts a failed check and prints "FAIL: TEXT".
bad() {
  failed=$((failed + 1))
  echo "FAIL: $*"
  return 0
}

# check_summary: prints "N passed, M failed"; returns nonzero when a check failed.
check_summary() {
  echo "$passed passed, $failed failed"
  ((failed == 0))
}

# free_port: a TCP port on 127.0.0.1 that was free a moment ago.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_grep FILE PATTERN SECONDS: true as soon as FILE has a line matching the extended
# regular expression PATTERN (polled every 0.1 s), false after SECONDS.
wait_grep() {
  local n=$(($3 * 10))
  while ((n-- > 0)); do
    grep -qE "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
