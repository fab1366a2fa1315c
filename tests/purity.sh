#!/usr/bin/env bash
# The core must perform no I/O and read no clock: list every symbol the core
# library needs from outside itself and fail on anything not allow-listed.
# Adding to the list is a design decision: say why in the commit.
set -euo pipefail
lib="$1"

allowed='^(
  memcpy|memmove|memset|memcmp|memchr|strlen|strcmp|strncmp|strchr|strrchr|strnlen|strdup|strndup|strtoll|strtoull|strtol|strtoul|
  malloc|calloc|realloc|free|qsort|bsearch|abort|__assert_fail|
  snprintf|vsnprintf|__snprintf_chk|__vsnprintf_chk|__memcpy_chk|__memmove_chk|__memset_chk|__stack_chk_fail|__strdup|
  __ctype_b_loc|__ctype_tolower_loc|__ctype_toupper_loc|
  EVP_[A-Za-z0-9_]+|SHA1|SHA256|OPENSSL_cleanse|
  __asan_[A-Za-z0-9_]+|__ubsan_[A-Za-z0-9_]+|__sanitizer_[A-Za-z0-9_]+|__sancov_[A-Za-z0-9_]+|
  _GLOBAL_OFFSET_TABLE_|__gcov_[A-Za-z0-9_]+
)$'
allowed=$(printf '%s' "$allowed" | tr -d ' \n')

# Symbols defined anywhere inside the archive are internal, not imports.
defined=$(nm -g --defined-only "$lib" 2>/dev/null | awk 'NF>=3 {print $3}' | sort -u)
undef=$(nm -u "$lib" | awk 'NF>=2 {print $2}' | sort -u)
bad=$(comm -23 <(echo "$undef") <(echo "$defined") | grep -Ev "$allowed" || true)

if [ -n "$bad" ]; then
  echo "purity: the core library imports symbols outside the allow-list:" >&2
  echo "$bad" | sed 's/^/  /' >&2
  exit 1
fi
# abort is allow-listed only because assert() may expand to it; make sure no core source calls it.
src_dir="$(dirname "$0")/../src/core"
if grep -nE '\babort\s*\(' "$src_dir"/*.c >/dev/null 2>&1; then
  echo "purity: src/core calls abort(); bad input must return an error instead" >&2
  grep -nE '\babort\s*\(' "$src_dir"/*.c >&2
  exit 1
fi
echo "purity: $(echo "$undef" | grep -c . || true) imported symbols, all allowed"
