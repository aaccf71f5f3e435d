"""MSINet (CVPR 2023): multi-scale interaction backbone, its search, and the Spatial Alignment Module.

Each module is imported explicitly so that its registrations (backbone ``msinet``, head ``FBLNeck``,
loss ``SpatialAlignLoss``, and the search parts) run when the toolbox loads this plugin.
"""

# isort: off
from . import config  # noqa: F401
from . import interaction  # noqa: F401
from . import cell  # noqa: F401
from . import genotypes  # noqa: F401
from . import msinet  # noqa: F401
from . import neck  # noqa: F401
from . import sam  # noqa: F401
from . import convert  # noqa: F401
from . import memory  # noqa: F401
from . import supernet  # noqa: F401
from . import search_model  # noqa: F401
# isort: on
from .config import add_msinet_config

__all__ = ["add_msinet_config"]
