from services.exchange.alerts.models import Alert, AlertTarget
from services.exchange.figures.models import QuarantineTally, ReferralFacts
from services.exchange.referrals.models import Referral, ReferralEvent
from services.exchange.transport.models import OutboxMessage, QuarantinedMessage, QuarantineQuota
from services.exchange.webhooks.models import WebhookDelivery, WebhookSubscription
from shared.kit.migrations_env import metadata_of, run_migrations
from shared.protocol.auth import ApiToken
from shared.web.people import Person, WebSession

MODELS = (
    Referral, ReferralEvent, Alert, AlertTarget, WebhookSubscription, WebhookDelivery,
    OutboxMessage, QuarantinedMessage, QuarantineQuota, ApiToken,
    Person, WebSession, ReferralFacts, QuarantineTally)

run_migrations(metadata_of(MODELS))
