"""Execute notebooks with Jupyter's own client (nbclient) in the mmkit kernel and fail unless
every code cell ran and none produced an error.

nbclient alone is not enough: after an error the kernel answers queued requests "aborted",
which nbclient does not count as a failure, so cells that never ran must be caught here.

    /usr/bin/python3 test/jupyter/nbclient_check.py [--kernel mmkit] [--timeout 600] NOTEBOOK...
"""
import argparse
import os
import sys

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def check(path, kernel, timeout):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name=kernel,
        timeout=timeout,
        allow_errors=True,
        resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}},
    )
    try:
        client.execute()
    except CellExecutionError as e:
        return [f"{path}: {e}"]
    problems = []
    for number, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        if cell.get("execution_count") is None:
            problems.append(f"{path}: cell {number} did not run")
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                problems.append(f"{path}: cell {number} raised {output.get('ename')}: {output.get('evalue')}")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+")
    parser.add_argument("--kernel", default="mmkit")
    parser.add_argument("--timeout", type=int, default=600)
    args = parser.parse_args()
    problems = [p for path in args.notebooks for p in check(path, args.kernel, args.timeout)]
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"{len(args.notebooks)} notebook(s) ran every cell without errors")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
