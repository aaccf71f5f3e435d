"""Named genotypes of MSINet and the parsing of a user's genotype.

A genotype lists the interaction op of each of the 12 interaction modules (two per cell, cells in
network order). ``resolve_genotype`` accepts a name (``msmt``, the uniform ablations, ``random``), a
list of 12 op names, or the path of a genotype YAML. A genotype file (as written by the search) is a
config fragment::

    MODEL:
      MSINET:
        GENOTYPE: [gate, gate, exchange, ...]   # 12 op names

so it works both as a ``_BASE_`` of an experiment YAML and as the value of ``MODEL.MSINET.GENOTYPE``.
"""

from __future__ import annotations

import os
import random
from typing import Dict, List, Optional, Sequence, Union

import yaml

from .interaction import OP_NAMES, GenotypeError, check_op_name

__all__ = ["NUM_INTERACTIONS", "NAMED_GENOTYPES", "resolve_genotype", "random_genotype",
           "save_genotype", "genotype_to_cells"]

NUM_INTERACTIONS = 12

NAMED_GENOTYPES: Dict[str, List[str]] = {
    # The paper's Table 1 (searched on MSMT17 with TCM, train 60 % - valid 80 %).
    "msmt": ["gate", "gate", "exchange", "gate", "attention", "gate",
             "gate", "none", "gate", "attention", "exchange", "attention"],
}
# Uniform architectures of Fig. 5 (b): every interaction module uses the same op.
for _op in OP_NAMES:
    NAMED_GENOTYPES[_op] = [_op] * NUM_INTERACTIONS

_KEY = "MODEL.MSINET.GENOTYPE"


# The list random genotypes are drawn from. Fixed on its own (not OP_NAMES) because its order decides
# every random genotype: "random" with seed s names the same architecture in every version.
_RANDOM_DRAW = ("none", "exchange", "gate", "attention")


def random_genotype(seed: int) -> List[str]:
    """12 ops drawn uniformly with ``random.Random(seed)`` (Fig. 5 b "Random")."""
    rng = random.Random(seed)
    return [rng.choice(_RANDOM_DRAW) for _ in range(NUM_INTERACTIONS)]


def _check_list(ops: Sequence[object], where: str) -> List[str]:
    ops = list(ops)
    if len(ops) != NUM_INTERACTIONS:
        raise GenotypeError(
            f"{where}: expected {NUM_INTERACTIONS} interaction ops (2 per cell x 6 cells), got {len(ops)}; "
            f"valid ops: {', '.join(OP_NAMES)}"
        )
    return [check_op_name(op, f"{where}[{i}]") for i, op in enumerate(ops)]


def _load_file(path: str) -> List[str]:
    with open(path) as f:
        data = yaml.safe_load(f)
    ops = data
    if isinstance(data, dict):
        ops = data.get("MODEL", {}).get("MSINET", {}).get("GENOTYPE", data.get("GENOTYPE"))
    if not isinstance(ops, (list, tuple)):
        raise GenotypeError(f"{_KEY} file {path}: expected MODEL.MSINET.GENOTYPE as a list of "
                         f"{NUM_INTERACTIONS} op names")
    return _check_list(ops, f"{_KEY} file {path}")


def resolve_genotype(value: Union[None, str, Sequence[str]], seed: int = 0) -> List[str]:
    """Turn a config value into a list of 12 op names; errors name the value and the valid choices."""
    if value is None or value == "":
        return list(NAMED_GENOTYPES["msmt"])
    if isinstance(value, str):
        name = value.strip()
        if name.lower() == "random":
            return random_genotype(seed)
        if name.lower() in NAMED_GENOTYPES:
            return list(NAMED_GENOTYPES[name.lower()])
        if os.path.isfile(os.path.expanduser(name)):
            return _load_file(os.path.expanduser(name))
        raise GenotypeError(
            f"{_KEY}: {value!r} is neither a named genotype ({', '.join(list(NAMED_GENOTYPES) + ['random'])}), "
            f"nor an existing genotype file, nor a list of {NUM_INTERACTIONS} ops from: {', '.join(OP_NAMES)}"
        )
    if isinstance(value, (list, tuple)):
        return _check_list(value, _KEY)
    raise GenotypeError(f"{_KEY}: {value!r} has type {type(value).__name__}; expected a name, a path or a list")


def save_genotype(ops: Sequence[str], path: str, comment: Optional[str] = None) -> None:
    """Write ``ops`` as a genotype YAML (usable as ``_BASE_`` or as ``MODEL.MSINET.GENOTYPE``)."""
    ops = _check_list(ops, "genotype")
    with open(path, "w") as f:
        if comment:
            f.write(f"# {comment}\n")
        yaml.safe_dump({"MODEL": {"MSINET": {"GENOTYPE": ops}}}, f, default_flow_style=None)


def genotype_to_cells(ops: Sequence[str]) -> List[List[str]]:
    """Split 12 ops into 6 pairs, one per cell in network order."""
    return [list(ops[i:i + 2]) for i in range(0, len(ops), 2)]
