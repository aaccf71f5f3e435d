#!/usr/bin/env python
"""Write the synthetic (generated) ReID dataset in the Market-1501 layout, ``day`` or ``dusk`` rendering.

    python tools/generate_synthetic.py --output datasets/SyntheticReID --train-ids 16
    python tools/generate_synthetic.py --output datasets/SyntheticDusk --domain dusk
    python tools/generate_synthetic.py --output /tmp/synth --train-ids 100 --test-ids 50 --cameras 6 --seed 3

A folder written to ``<root>/SyntheticReID`` (or ``<root>/SyntheticDusk``) is read by name, whatever
its size: ``DATASETS.NAMES ("SyntheticReID",)`` (or ``("SyntheticDusk",)``) with ``DATASETS.ROOT
<root>`` (``datasets`` above); those names generate the default size there on first use. Any folder
is also read by ``DATASETS.NAMES ("Market1501",)`` with ``DATASETS.ROOT`` pointing at it (``/tmp/synth``).
The seed defaults to the domain's (day 0, dusk 1), as the named data sets do, so a day set and a dusk
set hold different people; give the same ``--seed`` to render the same people in both domains.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from fastreid.data.synthetic import DOMAIN_SEEDS, DOMAINS, SyntheticSpec, generate_synthetic_reid


def main(argv=None) -> int:
    d = SyntheticSpec()
    ap = argparse.ArgumentParser(
        description="Generate the synthetic (rendered) ReID dataset, Market-1501 layout",
        epilog=__doc__.split("\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--output", required=True,
                    help="folder to create (datasets/SyntheticReID, datasets/SyntheticDusk: usable by name)")
    ap.add_argument("--train-ids", type=int, default=d.num_train_ids)
    ap.add_argument("--test-ids", type=int, default=d.num_test_ids)
    ap.add_argument("--cameras", type=int, default=d.num_cameras, help="2..6")
    ap.add_argument("--images-per-camera", type=int, default=d.images_per_camera)
    ap.add_argument("--height", type=int, default=d.height)
    ap.add_argument("--width", type=int, default=d.width)
    ap.add_argument("--distractors", type=int, default=d.num_distractors, help="pid-0 gallery images")
    ap.add_argument("--junk", type=int, default=d.num_junk, help="pid -1 background boxes")
    ap.add_argument("--seed", type=int, default=None,
                    help=f"default: the domain's ({', '.join(f'{k} {v}' for k, v in DOMAIN_SEEDS.items())})")
    ap.add_argument("--domain", choices=DOMAINS, default=d.domain,
                    help="rendering: day (bright) or dusk (dark, colour cast, faded colours, other cameras)")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    spec = SyntheticSpec(args.train_ids, args.test_ids, args.cameras, args.images_per_camera, args.height,
                         args.width, args.distractors, args.junk,
                         DOMAIN_SEEDS[args.domain] if args.seed is None else args.seed, args.domain)
    try:
        spec.check()
    except ValueError as e:
        ap.error(str(e))
    log = logging.getLogger("generate_synthetic")
    if os.path.exists(args.output) and not args.overwrite:
        log.info("%s exists; kept as it is (use --overwrite to regenerate)", args.output)
    out = generate_synthetic_reid(args.output, spec, overwrite=args.overwrite)
    log.info("synthetic dataset (generated, not real people) at %s", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
