#!/usr/bin/env bash
# Installs what is missing, builds into build/, and runs the main job end to end on a fresh
# embedded store in build/demo/: the first admin, the demo staff accounts, a patient who registers
# and activates the account with the code emailed to the outbox, a patient login, an admin login
# through the code emailed to the outbox, whoami, the role policy at work, the shipped
# models checked, a real chest X-ray (DICOM) uploaded by the patient and analysed by the doctor
# with a shipped model and its Grad-CAM heat map, a brain MRI analysed with the model chosen by
# modality, the scan verified by the doctor, prescribed by the pharmacist and approved by the
# admin (each an electronic signature), the encrypted PDF report emailed to the patient (the open
# code in a second message) and downloaded by the patient, the FHIR export, its record checked, an
# evaluation of a shipped model, and the audit log verified. Every step prints what it did.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
cd "$CSSS_ROOT"

csss_ensure_packages "${CSSS_BUILD_PACKAGES[@]}" "${CSSS_DEMO_PACKAGES[@]}"
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
# newest_code [KIND]: the code in the newest outbox message ("sign-in" or "verification").
newest_code() {
  local mail
  mail=$(ls -t "$CSSS_DATA_DIR"/outbox/*.eml | head -n 1)
  grep -oE "${1:-sign-in} code is [0-9]{6}" "$mail" | grep -oE '[0-9]{6}'
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

step "The admin adds the demo staff accounts"
for who in doctor pharma; do
  as admin user add --email "$who@csss.local" --name "${NAME[$who]}" --role "${ROLE[$who]}" \
    --password-stdin <<<"${PASSWORD[$who]}"
done

step "A patient registers (no login needed); a 6-digit code goes to the patient's email"
"$CSSS" user register --email patient@csss.local --name "${NAME[patient]}" \
  --birth-date 1984-07-12 --password-stdin <<<"${PASSWORD[patient]}"
set +e
as patient login --email patient@csss.local --password-stdin <<<"${PASSWORD[patient]}"
echo "(exit status $?: not usable before the code is entered)"
set -e
verification=$(newest_code verification)
echo "The code, read from $(ls -t "$CSSS_DATA_DIR"/outbox/*.eml | head -n 1): $verification"
"$CSSS" user verify-email --email patient@csss.local --code "$verification"
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

step "The shipped models, trained by csss train-eval (models/), and their weights checked"
as admin model list
as admin model verify covid-cxr

step "The patient uploads a chest X-ray (DICOM, RSNA sample in datasets/dicom)"
as patient upload "$CSSS_ROOT/datasets/dicom/chest_cr_rsna_monochrome2.dcm" | tee "$DEMO/upload.txt"
scan_id=$(grep -oE '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' "$DEMO/upload.txt")
echo "Uploading the same file again stores nothing:"
as patient upload "$CSSS_ROOT/datasets/dicom/chest_cr_rsna_monochrome2.dcm"

step "The doctor runs the AI analysis on it (adult chest X-ray: the covid-cxr model)"
as doctor analyze "$scan_id" --model covid-cxr

step "A brain MRI (JPEG sample in datasets/samples) uploaded for the patient by the doctor"
as doctor upload "$CSSS_ROOT/datasets/samples/brain-mri/glioma/Tr-glTr_0000.jpg" \
  --patient patient@csss.local --modality MR --body-part BRAIN | tee "$DEMO/upload-mri.txt"
mri_id=$(grep -oE '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' "$DEMO/upload-mri.txt")
echo "The model is chosen by modality and body part (MR, BRAIN: brain-mri):"
as doctor analyze "$mri_id"

step "A researcher evaluates the brain-mri model on held-out images it never trained on (no login needed)"
"$CSSS" train-eval evaluate --model brain-mri --data "$CSSS_ROOT/datasets/heldout/brain-mri" \
  --bootstrap 0 --out "$DEMO/evaluation"

step "The doctor's worklist: high-risk and uncertain results first"
as doctor scans

step "The doctor verifies the AI result with clinical notes (an electronic signature: password again)"
as doctor verify "$scan_id" --agree --password-stdin \
  --notes "Findings reviewed with the AI result and its heat map; see the prescription." \
  <<<"${PASSWORD[doctor]}"

step "The pharmacist's worklist, the templates for the diagnosis, and the signed prescription"
as pharma scans
diagnosis=$(as pharma --json scans show "$scan_id" | grep -o '"diagnosis": "[^"]*"' | tail -n 1 |
  cut -d'"' -f4)
echo "The doctor's diagnosis: $diagnosis"
as pharma prescribe --list-templates --diagnosis "$diagnosis"
template=$(as pharma --json prescribe --list-templates --diagnosis "$diagnosis" |
  grep -o '"name": "[^"]*"' | head -n 1 | cut -d'"' -f4)
as pharma prescribe "$scan_id" --template "$template" --password-stdin <<<"${PASSWORD[pharma]}"

step "The admin (a session that passed the emailed code) approves, signing once more"
as admin scans
as admin approve "$scan_id" --password-stdin <<<"${PASSWORD[admin]}"

step "Approval issued the report and emailed it: the PDF in one message, its open code in another"
as admin report status "$scan_id"
report_mail=$(grep -l '^Subject: Your CSSS report is ready' "$CSSS_DATA_DIR"/outbox/*.eml)
code_mail=$(grep -l '^Subject: Your CSSS report: the code' "$CSSS_DATA_DIR"/outbox/*.eml)
open_code=$(grep -oE '^    [0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}' "$code_mail" | tr -d ' ')
echo "The encrypted PDF is attached to: $report_mail"
echo "Its open code, from $code_mail: $open_code"

step "The patient downloads the report (the same encrypted file) and opens it with the code"
as patient report "$scan_id" -o "$DEMO/report.pdf"
qpdf --show-encryption --password="$open_code" "$DEMO/report.pdf" | grep -E '^(R|P) = |stream encryption'
# Its first page as text (the diagonal watermark's letters, scattered over the lines, left out).
pdftotext -layout -l 1 -upw "$open_code" "$DEMO/report.pdf" - |
  sed -E 's/ {4,}[^ ]{1,3}$//; s/^ {20,}[^ ]{1,3}$//' | grep -v '^\s*$' | head -n 22
if pdftotext "$DEMO/report.pdf" - >/dev/null 2>&1; then
  echo "error: the report opened without its code" >&2
  exit 1
fi
echo "(without the code it does not open)"

step "The same report as HL7 FHIR R4 (DiagnosticReport, the PDF as presentedForm)"
as doctor report "$scan_id" --format fhir -o "$DEMO/report.fhir.json"
grep -E '"(resourceType|status|conclusion|contentType)"' "$DEMO/report.fhir.json"

step "A hospital import: a directory of brain MRIs with a manifest, analysed in batches"
import_dir="$DEMO/import"
mkdir -p "$import_dir"
printf 'file,patient_id,name,email,birth_date\n' >"$DEMO/import-manifest.csv"
n=0
for f in "$CSSS_ROOT"/datasets/heldout/brain-mri/*/*.jpg; do
  n=$((n + 1))
  cp "$f" "$import_dir/mri-$n.jpg"
  printf 'mri-%d.jpg,MRN-%04d,Patient %d\n' "$n" $(((n + 2) / 3)) $(((n + 2) / 3)) >>"$DEMO/import-manifest.csv"
done
as doctor batch import "$import_dir" --manifest "$DEMO/import-manifest.csv" --model brain-mri
echo "(run again: every file is already in the store, nothing is imported twice)"
as doctor batch import "$import_dir" --manifest "$DEMO/import-manifest.csv" --model brain-mri

step "The whole record, and every hash recomputed"
as doctor scans show "$scan_id"
as doctor scans check "$scan_id"

step "The patient sees the scan and its result"
as patient scans

step "The patient's own record and history: scans, AI results, diagnosis, prescription, report"
as patient patient history

step "The records the import created (by medical record number), and a note on a prediction"
as doctor patient list --mrn MRN-0001
as doctor scans note "$scan_id" --text "Reviewed with the radiologist; agree with the AI result."

step "Help in the terminal (csss ask; offline, typos tolerated, never medical advice)"
"$CSSS" ask "how do I reset my pasword"
"$CSSS" ask "do I have cancer?"

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
