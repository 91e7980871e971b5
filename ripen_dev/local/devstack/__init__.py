"""`ripen dev`: the whole stack on this machine, through the same handler code as in AWS.

- State in AWS's DynamoDB Local; SES, SQS and EventBridge from moto in server mode; every resource
  created from template.yaml (`stack.py`).
- The functions run in this process through their real handlers, invoked the way Lambda invokes
  them (`triggers.py`): the api function behind a local HTTP server (each request an HTTP API v2
  event), the sweep on a timer with its schedule's input, the sender and the engagement function
  fed batches from their SQS queues by a poller that deletes what succeeded (partial batch failures).
- SES event publishing, simulated (`ses.py`): each email the sender hands to SES is recorded, and its
  events (Send and Delivery at once; Open, Click, Bounce, Complaint from the outbox) go to
  EventBridge in the shapes of `events/ses/eventbridge/`, where the rule from template.yaml puts
  them on the engagement queue, as in AWS.
- Time is a dev clock (`clock.py`): real time plus an offset the outbox moves forward.
- The outbox at `/_dev` (`outbox.py`): every email sent, each lead's timeline, buttons for what a
  lead or a mailbox provider does, and the control that moves time.

Local only: nothing here is shipped to Lambda (functions/Makefile leaves `ripen/local` out).
"""
