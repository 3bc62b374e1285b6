"""Read pip-audit's JSON report: fail only on a known vulnerability, say plainly what was not checked."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(report_path: str) -> int:
    """Print a summary; exit 1 when a pinned package has a known vulnerability, 0 otherwise."""
    try:
        report = json.loads(Path(report_path).read_text())
    except (OSError, ValueError):
        print("ci: dependency audit NOT done: pip-audit could not reach its vulnerability service (no report)")
        return 0
    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    skipped = [d for d in dependencies if d.get("skip_reason")]
    checked = len(dependencies) - len(skipped)
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
            print(f"ci: VULNERABLE {dependency['name']}=={dependency['version']}: {vuln['id']} (fixed in {fixed})")
    if skipped and not checked:
        reason = skipped[0]["skip_reason"]
        print(f"ci: dependency audit NOT done: the vulnerability service answered for no package ({reason})")
    elif skipped:
        names = ", ".join(f"{d['name']}=={d['version']}" for d in skipped)
        print(f"ci: dependency audit: {checked} checked; NOT checked (the service did not answer): {names}")
    else:
        print(f"ci: dependency audit: {checked} packages checked")
    if vulnerable:
        print(f"ci: {len(vulnerable)} pinned package(s) have known vulnerabilities: upgrade the pins")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
