from . import main
from . import sso
from . import webhooks
from . import portal
