#!/usr/bin/env bash
# Installs what is missing, builds into build/, and runs the main job end to end on a fresh
# embedded store in build/demo/: the first admin, the four demo accounts, a patient login, an
# admin login through the code emailed to the outbox, whoami, the role policy at work, and the
# audit log verified. Every step prints what it did.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
cd "$CSSS_ROOT"

csss_ensure_packages "${CSSS_BUILD_PACKAGES[@]}"
echo "==> Building build/bin/csss"
csss_configure build
cmake --build build -j "$(nproc)" --target csss >/dev/null

CSSS="$CSSS_ROOT/build/bin/csss"
DEMO="$CSSS_ROOT/build/demo"
rm -rf "$DEMO"
mkdir -p "$DEMO/sessions"
chmod 700 "$DEMO" "$DEMO/sessions"
export CSSS_DATA_DIR="$DEMO/data"
unset CSSS_CONFIG CSSS_SMTP_URL

# Demo passwords only: printed below so that you can try the accounts yourself.
declare -A NAME=([admin]="Ada Admin" [doctor]="Dr Zoë Ñúñez" [pharma]="Łukasz Pharmacist"
                 [patient]="Pat Patient")
declare -A ROLE=([admin]=admin [doctor]=doctor [pharma]=pharmacist [patient]=patient)
declare -A PASSWORD=([admin]="Admin#Demo2026" [doctor]="Doctor#Demo2026"
                     [pharma]="Pharma#Demo2026" [patient]="Patient#Demo2026")

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
# as WHO ARGS...: runs csss with WHO's session file.
as() {
  local who=$1
  shift
  CSSS_SESSION="$DEMO/sessions/$who" "$CSSS" "$@"
}
newest_code() {
  local mail
  mail=$(ls -t "$CSSS_DATA_DIR"/outbox/*.eml | head -n 1)
  grep -oE 'sign-in code is [0-9]{6}' "$mail" | grep -oE '[0-9]{6}'
}

step "Create a fresh store and the first admin (csss init)"
"$CSSS" init --admin-email admin@csss.local --admin-name "${NAME[admin]}" --password-stdin \
  <<<"${PASSWORD[admin]}"

step "Admin login, step 1: the password; a one-time code goes to the admin's email (the outbox)"
as admin login --email admin@csss.local --password-stdin <<<"${PASSWORD[admin]}"
code=$(newest_code)
echo "The code, read from $(ls -t "$CSSS_DATA_DIR"/outbox/*.eml | head -n 1): $code"

step "Admin login, step 2: the emailed code"
as admin login --email admin@csss.local --otp "$code"
as admin whoami

step "The admin adds the demo staff and patient accounts"
for who in doctor pharma patient; do
  as admin user add --email "$who@csss.local" --name "${NAME[$who]}" --role "${ROLE[$who]}" \
    --password-stdin <<<"${PASSWORD[$who]}"
done
as admin user list

step "Patient login and whoami"
as patient login --email patient@csss.local --password-stdin <<<"${PASSWORD[patient]}"
as patient whoami

step "Doctor login and whoami (--json, for scripts)"
as doctor login --email doctor@csss.local --password-stdin <<<"${PASSWORD[doctor]}"
as doctor --json whoami

step "The role policy at work: a patient may not list accounts"
set +e
as patient user list
status=$?
set -e
echo "(exit status $status: permission denied)"

step "A wrong password is refused and recorded"
set +e
as pharma login --email pharma@csss.local --password-stdin <<<"not the password"
echo "(exit status $?)"
set -e
as pharma login --email pharma@csss.local --password-stdin <<<"${PASSWORD[pharma]}"

step "The audit log: the last events, and its hash chain verified"
as admin audit list --limit 8
as admin audit verify

step "Demo accounts (data directory $CSSS_DATA_DIR)"
printf '%-22s %-11s %s\n' EMAIL ROLE PASSWORD
for who in admin doctor pharma patient; do
  printf '%-22s %-11s %s\n' "$who@csss.local" "${ROLE[$who]}" "${PASSWORD[$who]}"
done
cat <<EOT

Try it yourself:
  export CSSS_DATA_DIR=$CSSS_DATA_DIR
  $CSSS login --email doctor@csss.local
  $CSSS whoami
EOT
