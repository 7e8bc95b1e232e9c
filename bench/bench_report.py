#!/usr/bin/python3
"""The seed stack's way of rendering the same report: a Jinja2 HTML template rendered to PDF by
WeasyPrint (Debian packages python3-jinja2 and weasyprint), on the content bench_report wrote.

    bench_report.py DIR [--count N]

DIR holds content.json, scan.jpg and overlay.jpg (bench_report IMAGE --out DIR). The template
lays out what csss's report holds: header with the facility, patient and scan fields, the AI
result with a probability bar chart and threshold, both images, findings, prescription, three
signature blocks, a diagonal watermark and page numbers on every page. WeasyPrint cannot encrypt,
so this side renders only; csss's figure includes its AES-256 encryption.

Prints: "weasyprint: <ms> ms/report (N reports, <KB> KB each)".
"""
import argparse
import datetime
import json
import logging
import pathlib
import time

import jinja2
import weasyprint

TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><style>
@page { size: A4; margin: 50pt 50pt 70pt 50pt;
  @bottom-left { content: "Report {{ c.report_id }}  ·  Content SHA-256 {{ sha }}";
                 font: 7pt "DejaVu Sans"; color: #666; }
  @bottom-right { content: "Page " counter(page) " of " counter(pages);
                  font: bold 8pt "DejaVu Sans"; } }
body { font: 10pt "DejaVu Sans"; color: #1a1a1f; }
.watermark { position: fixed; top: 45%; left: -10%; width: 120%; text-align: center;
  transform: rotate(-55deg); font: bold 24pt "DejaVu Sans"; color: rgba(50,50,50,0.13); }
h1 { font-size: 16pt; margin: 0; } h2 { color: #124d8c; font-size: 12pt;
  border-bottom: 0.6pt solid #bbb; margin: 14pt 0 6pt; page-break-after: avoid; }
.right { float: right; text-align: right; color: #124d8c; }
.muted { color: #606068; font-size: 8pt; }
table.fields td { padding: 1pt 6pt 1pt 0; vertical-align: top; }
table.fields td.l { color: #606068; font-size: 8pt; width: 70pt; }
.verdict { font: bold 13pt "DejaVu Sans"; color: #b82121; }
.bar { display: inline-block; height: 9pt; background: #eee; width: 260pt; position: relative; }
.bar span { display: block; height: 9pt; background: #8cadd1; }
.bar span.top { background: #124d8c; }
.images img { width: 240pt; height: 240pt; object-fit: contain; margin-right: 10pt; }
.sigs { display: flex; gap: 12pt; } .sig { border: 0.6pt solid #aaa; padding: 5pt; flex: 1;
  font-size: 8pt; } .sig b { color: #124d8c; }
.text { white-space: pre-wrap; }
</style></head><body>
<div class="watermark">AI-assisted screening: to be read by a licensed physician</div>
<div class="right"><b>Diagnostic imaging report</b><br><span class="muted">Report ID
{{ c.report_id }}<br>Issued {{ issued }}</span></div>
<h1>{{ c.facility.name }}</h1>
<div class="muted">{% for line in c.facility.address.split("\\n") %}{{ line }}<br>{% endfor %}</div>
<h2>Patient and scan</h2>
<table class="fields">
<tr><td class="l">Patient</td><td>{{ c.patient.name }}</td><td class="l">Modality</td>
<td>{{ c.scan.modality }} · {{ c.scan.body_part }} ({{ c.scan.format }})</td></tr>
<tr><td class="l">Patient ID</td><td>P-{{ "%06d" % c.patient.id }} (record {{ c.patient.reference }})</td>
<td class="l">Uploaded</td><td>{{ utc(c.scan.uploaded_at) }}</td></tr>
<tr><td class="l">Date of birth</td><td>{{ c.patient.birth_date }}</td><td class="l">Analysed</td>
<td>{{ utc(c.ai.analysed_at) }}</td></tr>
<tr><td class="l">Scan ID</td><td colspan="3">{{ c.scan.id }}</td></tr>
</table>
<h2>AI screening result</h2>
<div class="verdict">{{ c.ai.predicted_class }} ({{ "%.1f" % (100 * c.ai.confidence) }} %)</div>
<div>Risk level: {{ c.ai.risk }}. Uncertain below {{ "%.0f" % (100 * c.ai.threshold) }} % confidence.</div>
<div class="muted">Model {{ c.ai.model }} version {{ c.ai.version }} · weights SHA-256 {{ c.ai.weights_sha256 }}</div>
<table>{% for label, p in c.ai.probabilities %}
<tr><td style="width:130pt">{{ label }}</td><td><div class="bar"><span class="{{ 'top' if label == c.ai.predicted_class }}"
style="width: {{ 260 * p }}pt"></span></div></td><td>{{ "%.1f" % (100 * p) }} %</td></tr>{% endfor %}
</table>
<h2>Images</h2>
<div class="images"><img src="scan.jpg"><img src="overlay.jpg"></div>
<h2>Doctor's findings</h2>
<div class="text">Diagnosis: {{ c.diagnosis }} (agrees with the AI result)

{{ c.findings }}</div>
<h2>Prescription</h2>
<div class="text">{{ c.prescription }}</div>
<h2>Electronic signatures</h2>
<div class="sigs">{% for s in c.signatures %}<div class="sig"><b>{{ s.meaning }} by ({{ s.role }})</b><br>
<b style="color:#1a1a1f;font-size:10pt">{{ s.name }}</b><br>Role: {{ s.role }}<br>Meaning: {{ s.meaning }}<br>
Signed {{ utc(s.signed_at) }}<br><span class="muted">ID {{ s.id[:18] }}</span></div>{% endfor %}</div>
</body></html>
"""


def utc(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir", type=pathlib.Path)
    parser.add_argument("--count", type=int, default=10)
    args = parser.parse_args()
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    content = json.loads((args.dir / "content.json").read_text())
    template = jinja2.Environment(autoescape=True).from_string(TEMPLATE)
    base = str(args.dir.resolve()) + "/"

    def render():
        html = template.render(c=content, sha=content["content_sha256"],
                               issued=utc(content["generated_at"]), utc=utc)
        return weasyprint.HTML(string=html, base_url=base).write_pdf()

    pdf = render()  # warm-up: fonts and images into the caches
    (args.dir / "weasyprint.pdf").write_bytes(pdf)
    size = 0
    start = time.perf_counter()
    for _ in range(args.count):
        size += len(render())
    total = (time.perf_counter() - start) * 1000.0
    print(f"weasyprint: {total / args.count:.2f} ms/report ({args.count} reports, "
          f"{size / args.count / 1024:.0f} KB each)")


if __name__ == "__main__":
    main()
