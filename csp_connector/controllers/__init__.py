from . import main
from . import sso
from . import webhooks
