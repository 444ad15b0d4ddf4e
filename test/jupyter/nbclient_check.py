"""Execute notebooks with Jupyter's own client (nbclient) in the mmkit kernel and fail unless
every code cell ran, in order, and none produced an error or printed a stack trace to stderr.

nbclient alone is not enough: after an error the kernel answers queued requests "aborted",
which nbclient does not count as a failure, so cells that never ran must be caught here.

    /usr/bin/python3 test/jupyter/nbclient_check.py [--kernel mmkit] [--timeout 600] NOTEBOOK...
"""
import argparse
import os
import re
import sys

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

# An error that was only printed (an unhandled rejection, a caught-and-logged exception) leaves
# no error output, but its JavaScript stack frames or Python traceback show on stderr.
STACK_TRACE = re.compile(r"^\s+at \S.*(\(.*:\d+:\d+\)|:\d+:\d+)$|^Traceback \(most recent call last\):", re.MULTILINE)


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
    last_count = 0
    for number, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        count = cell.get("execution_count")
        if count is None:
            problems.append(f"{path}: cell {number} did not run")
        elif count <= last_count:
            problems.append(f"{path}: cell {number} ran out of order (execution count {count} after {last_count})")
        else:
            last_count = count
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                problems.append(f"{path}: cell {number} raised {output.get('ename')}: {output.get('evalue')}")
            elif output.get("output_type") == "stream" and output.get("name") == "stderr" and STACK_TRACE.search(output.get("text", "")):
                problems.append(f"{path}: cell {number} printed a stack trace to stderr: {output['text'].strip().splitlines()[0]}")
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
