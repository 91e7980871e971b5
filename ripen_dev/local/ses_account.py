"""What moto's SES v2 lacks, answered on the client itself: `GetAccount` and the configuration set's
sending switch (`PutConfigurationSetSendingOptions`; `GetConfigurationSet` reports it; `SendEmail`
through a switched-off set is refused with `SendingPausedException`, as SES does); and, while the
account has no production access, SES's sandbox refusal of a recipient that is not a verified
identity (moto checks only the sender).

The one place ripen fakes these calls: `ripen dev` and the integration tests install it on the
`sesv2` client they give the functions; everything else goes on to moto unchanged."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class LocalSesAccount:
    """The account as `GetAccount` reports it; change it to play the sandbox or a spent quota."""

    production_access: bool = True
    max_24_hour_send: float = 50_000.0
    max_send_rate: float = 14.0
    sent_last_24_hours: float = 0.0
    enforcement_status: str = "HEALTHY"
    sending_switched_off: set[str] = field(default_factory=set)  # configuration sets

    def answer(self) -> dict[str, Any]:
        return {
            "DedicatedIpAutoWarmupEnabled": False,
            "EnforcementStatus": self.enforcement_status,
            "ProductionAccessEnabled": self.production_access,
            "SendingEnabled": True,
            "SendQuota": {
                "Max24HourSend": self.max_24_hour_send,
                "MaxSendRate": self.max_send_rate,
                "SentLast24Hours": self.sent_last_24_hours,
            },
        }


def _ok(body: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    from botocore.awsrequest import AWSResponse, HTTPHeaders

    parsed = {**body, "ResponseMetadata": {"HTTPStatusCode": 200}}
    return AWSResponse("https://email.local", 200, HTTPHeaders(), None), parsed


def _refused(code: str, message: str) -> tuple[Any, dict[str, Any]]:
    from botocore.awsrequest import AWSResponse, HTTPHeaders

    parsed = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}}
    return AWSResponse("https://email.local", 400, HTTPHeaders(), None), parsed


def _unverified(sesv2: Any, recipients: list[str]) -> list[str]:
    """The recipients that are neither a verified address nor at a verified domain (moto's identities)."""
    from email.utils import parseaddr

    identities: set[str] = set()
    request: dict[str, Any] = {}
    while True:
        page = sesv2.list_email_identities(**request)
        identities |= {found["IdentityName"].lower() for found in page.get("EmailIdentities", [])}
        if not page.get("NextToken"):
            break
        request = {"NextToken": page["NextToken"]}
    addresses = [parseaddr(recipient)[1].lower() for recipient in recipients]
    return [a for a in addresses if a not in identities and a.rpartition("@")[2] not in identities]


def install(sesv2: Any, account: LocalSesAccount | None = None) -> LocalSesAccount:
    """Answer the calls moto lacks on this `sesv2` client; returns the account to play with."""
    account = account or LocalSesAccount()
    events = sesv2.meta.events

    def get_account(**_: Any) -> tuple[Any, dict[str, Any]]:
        return _ok(account.answer())

    def keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["ripen_params"] = dict(params)  # before-call sees the serialized request only

    def put_sending_options(context: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]]:
        params = context["ripen_params"]
        name = params["ConfigurationSetName"]
        if params.get("SendingEnabled", False):
            account.sending_switched_off.discard(name)
        else:
            account.sending_switched_off.add(name)
        return _ok({})

    def get_configuration_set(context: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]]:
        name = context["ripen_params"]["ConfigurationSetName"]
        return _ok(
            {
                "ConfigurationSetName": name,
                "SendingOptions": {"SendingEnabled": name not in account.sending_switched_off},
            }
        )

    def send_email(context: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]] | None:
        params = context["ripen_params"]
        if params.get("ConfigurationSetName") in account.sending_switched_off:
            return _refused("SendingPausedException", "Sending is paused for this configuration set.")
        if not account.production_access:
            unverified = _unverified(sesv2, params.get("Destination", {}).get("ToAddresses", []))
            if unverified:
                region = sesv2.meta.region_name.upper()
                return _refused(
                    "MessageRejected",
                    f"Email address is not verified. The following identities failed the check in region {region}: "
                    + ", ".join(unverified),
                )
        account.sent_last_24_hours += 1
        return None  # on to moto

    events.register("before-parameter-build.sesv2", keep_params)
    events.register("before-call.sesv2.GetAccount", get_account)
    events.register("before-call.sesv2.PutConfigurationSetSendingOptions", put_sending_options)
    events.register("before-call.sesv2.GetConfigurationSet", get_configuration_set)
    events.register("before-call.sesv2.SendEmail", send_email)
    return account
