#!/usr/bin/env python
"""Convert the authors' MSINet checkpoint to this toolbox's layout.

Usage: python projects/MSINet/tools/convert_official.py IN.pth.tar OUT.pth
then:  python projects/MSINet/train_net.py --config-file ... --eval-only MODEL.WEIGHTS OUT.pth
"""

import argparse
import logging

from msinet.convert import convert_official_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", help="the authors' checkpoint (state dict under 'state_dict')")
    parser.add_argument("dst", help="where to write the converted checkpoint ({'model': state_dict})")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    converted = convert_official_checkpoint(args.src, args.dst)
    logging.getLogger("convert_official").info("wrote %d tensors to %s", len(converted), args.dst)


if __name__ == "__main__":
    main()
