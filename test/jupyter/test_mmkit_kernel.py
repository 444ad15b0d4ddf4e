"""Jupyter's reference kernel test suite (jupyter_kernel_test) against the mmkit kernel.

Run from the repository root after `npm run build`, with the kernelspec visible to Jupyter
(e.g. JUPYTER_PATH=<prefix>/share/jupyter after `kernel:install --prefix <prefix>`):
    /usr/bin/python3 -m unittest -v test/jupyter/test_mmkit_kernel.py
The kernel's working directory is the repository root, so cells can import ./dist/sdk/report.
"""
import os
import unittest

import jupyter_kernel_test

# tslab type-checks every cell; the first one also warms the compiler, which is slow on 2 cores.
jupyter_kernel_test.TIMEOUT = 60


class MmkitKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = os.environ.get("MMKIT_KERNEL_NAME", "mmkit")
    language_name = "typescript"
    file_extension = ".ts"

    code_hello_world = 'console.log("hello, world")'
    code_stderr = 'console.error("something went wrong")'

    completion_samples = [
        {"text": "Math.sq", "matches": {"sqrt", "SQRT1_2", "SQRT2"}},
        {"text": "const greeting = 'hi'; greeting.toUpperC", "matches": {"toUpperCase"}},
    ]

    complete_code_samples = ["1 + 1", "const x = 3;", "function f() { return 1; }"]
    incomplete_code_samples = ["function f() {", "const xs = [1, 2,", "if (true) {"]
    invalid_code_samples = ["const = 3;", "let x = );", "}}"]

    code_generate_error = 'throw new Error("boom")'

    code_execute_result = [
        {"code": "6 * 7", "result": "42"},
        {"code": "'mm' + 'kit'", "result": "'mmkit'"},
        {"code": "[1, 2, 3].map((x) => x * 2)", "result": "[ 2, 4, 6 ]"},
        {
            "code": "({ [Symbol.for('Jupyter.display')]: () => ({ 'text/html': '<b>rich</b>', 'text/plain': 'rich' }) })",
            "mime": "text/html",
            "result": "<b>rich</b>",
        },
    ]

    code_display_data = [
        {"code": 'import * as tslab from "tslab"; tslab.display.html("<b>bold</b>")', "mime": "text/html"},
        {
            "code": "import { display } from './dist/sdk/report';\n"
            "await display({ [Symbol.for('Jupyter.display')]: () => ({ 'image/svg+xml': '<svg xmlns=\"http://www.w3.org/2000/svg\"/>', 'text/plain': 'svg' }) })",
            "mime": "image/svg+xml",
        },
    ]

    code_history_pattern = "6 * ?"
    supported_history_operations = ("tail", "range", "search")

    code_inspect_sample = "Math.max"
    code_page_something = "Math.max?"

    code_clear_output = "import { clearOutput } from './dist/sdk/report'; clearOutput()"

    # Beyond the reference suite: tslab aborted every request arriving within 200 ms of an
    # error; requests queued behind a failure are aborted only when stop_on_error is set.
    def test_stop_on_error(self):
        for stop, expected in ((True, ["error", "aborted"]), (False, ["error", "ok"])):
            with self.subTest(stop_on_error=stop):
                self.flush_channels()
                ids = [
                    self.kc.execute('throw new Error("first")', stop_on_error=stop),
                    self.kc.execute("1 + 1", stop_on_error=stop),
                ]
                statuses = {}
                while len(statuses) < len(ids):
                    reply = self.kc.get_shell_msg(timeout=jupyter_kernel_test.TIMEOUT)
                    if reply["msg_type"] == "execute_reply":
                        statuses[reply["parent_header"]["msg_id"]] = reply["content"]["status"]
                self.assertEqual([statuses[i] for i in ids], expected)
                # The kernel takes new work right after the failure.
                self.flush_channels()
                reply, _ = self.execute_helper("2 + 2")
                self.assertEqual(reply["content"]["status"], "ok")


if __name__ == "__main__":
    unittest.main()
