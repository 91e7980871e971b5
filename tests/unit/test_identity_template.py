"""The sending identity as code (CreateSesIdentity): Easy DKIM, a custom MAIL FROM domain, and every
DNS record to publish as a stack output; nothing of it when the identity is verified outside the stack."""

from __future__ import annotations

from ripen_dev.local import cfn
from tests.conftest import REPO

TEMPLATE = cfn.load_template(REPO / "template.yaml")
RECORDS = ("DkimRecord1", "DkimRecord2", "DkimRecord3", "MailFromMxRecord", "MailFromSpfRecord", "DmarcRecord")


def test_the_identity_is_created_only_when_asked_with_dkim_and_its_mail_from_domain():
    identity = TEMPLATE["Resources"]["SendingIdentity"]
    assert identity["Type"] == "AWS::SES::EmailIdentity"
    assert identity["Condition"] == "CreatesSesIdentity"
    assert TEMPLATE["Parameters"]["CreateSesIdentity"]["Default"] == "false"
    assert cfn.conditions(TEMPLATE, {"CreateSesIdentity": "false"})["CreatesSesIdentity"] is False
    assert cfn.conditions(TEMPLATE, {"CreateSesIdentity": "true"})["CreatesSesIdentity"] is True
    properties = identity["Properties"]
    assert properties["EmailIdentity"] == {"Ref": "SesIdentity"}
    assert properties["DkimAttributes"] == {"SigningEnabled": True}
    assert properties["DkimSigningAttributes"] == {"NextSigningKeyLength": "RSA_2048_BIT"}
    assert properties["MailFromAttributes"]["MailFromDomain"] == {"Fn::Sub": "${MailFromSubdomain}.${SesIdentity}"}
    assert properties["ConfigurationSetAttributes"] == {"ConfigurationSetName": {"Ref": "NurtureConfigurationSet"}}


def test_every_dns_record_to_publish_is_an_output_of_an_identity_the_stack_made():
    outputs = TEMPLATE["Outputs"]
    for name in RECORDS:
        assert outputs[name]["Condition"] == "CreatesSesIdentity", name
    for i in (1, 2, 3):
        value = outputs[f"DkimRecord{i}"]["Value"]["Fn::Sub"]
        assert value == f"${{SendingIdentity.DkimDNSTokenName{i}}} CNAME ${{SendingIdentity.DkimDNSTokenValue{i}}}"
    assert "include:amazonses.com" in outputs["MailFromSpfRecord"]["Value"]["Fn::Sub"]
    assert "feedback-smtp.${AWS::Region}.amazonses.com" in outputs["MailFromMxRecord"]["Value"]["Fn::Sub"]
    assert outputs["DmarcRecord"]["Value"]["Fn::Sub"].startswith('_dmarc.${SesIdentity} TXT "v=DMARC1;')
    # and ripen status finds the identity it checks
    assert outputs["SesIdentityName"]["Value"] == {"Ref": "SesIdentity"}
