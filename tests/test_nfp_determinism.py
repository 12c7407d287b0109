"""The NFP image is a function of the program alone, not of the Python process.

`xdptool replay` rebuilds the offloaded image and checks it against the saved
one, so offload must give the same words in every process, whatever
PYTHONHASHSEED randomises (set iteration order follows string hashes).
"""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import sys
from xdptool.elf import load_object
from xdptool.nfp.encoding import encode
from xdptool.nfp.offload import offload
program = load_object(sys.argv[1]).program()
for allocator in ("kernel", "xdptool"):
    report = offload(program, "auto", allocator=allocator, compare=False, estimate=False)
    print(",".join(format(encode(i), "x") for i in report.image.insns))
"""


def test_same_image_under_different_hash_seeds(built_examples):
    for name in ("port_blocklist", "l4_lb", "port_rewrite"):
        images = set()
        for seed in ("1", "2", "3"):
            env = {**os.environ, "PYTHONHASHSEED": seed}
            out = subprocess.run([sys.executable, "-c", SCRIPT, str(built_examples[name])], env=env,
                                 capture_output=True, text=True, check=True)
            images.add(out.stdout)
        assert len(images) == 1, name
