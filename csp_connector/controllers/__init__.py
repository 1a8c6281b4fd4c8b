from . import main
from . import sso
