"""The stack being built: the clients, the template's intrinsic resolver and what the creators have
recorded so far, with what every creator needs (resolved properties, names, ARNs, warnings)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from sluice_cli.sandbox.provision.clients import ClientFactory
from sluice_cli.sandbox.provision.properties import IGNORED_PROPERTIES, Properties, physical_name
from sluice_cli.sandbox.provision.sam_roles import sam_generated_roles
from sluice_cli.sandbox.provision.stack import ProvisionedResource, StackOutputs
from sluice_cli.sandbox.template import IntrinsicResolver, Resource, ResourceRef, Template

log = logging.getLogger(__name__)


class StackBuild:
    def __init__(self, clients: ClientFactory, template: Template, imports: Mapping[str, str] | None) -> None:
        self.clients = clients
        self.template = template
        self.pseudo = template.pseudo
        self.refs: dict[str, ResourceRef] = {}
        self.resolver = IntrinsicResolver(template, self.refs, imports=imports)
        self.stack = StackOutputs(
            stack_name=self.pseudo.stack_name,
            region=self.pseudo.region,
            account_id=self.pseudo.account_id,
            template=template,
        )

    @cached_property
    def sam_roles(self) -> dict[str, dict[str, Any]]:
        """The roles SAM generates (`<LogicalId>Role` -> properties), translated once per stack."""
        return sam_generated_roles(self.template)

    def record(self, provisioned: ProvisionedResource) -> None:
        self.stack.resources[provisioned.logical_id] = provisioned
        self.refs[provisioned.logical_id] = ResourceRef(provisioned.ref, dict(provisioned.attributes))

    def properties(self, resource: Resource) -> Properties:
        return Properties(self.resolver.resolve(resource.properties))

    def warn_unread(self, resource: Resource, props: Properties) -> None:
        for key in props.unread(IGNORED_PROPERTIES.get(resource.type, frozenset())):
            message = f"{resource.logical_id} ({resource.type}): property {key} is not emulated"
            self.stack.warnings.append(message)
            log.warning(message)

    def physical_name(
        self, resource: Resource, explicit: Any, *, max_length: int, lowercase: bool = False
    ) -> str:
        if explicit:
            return str(explicit)
        return physical_name(
            self.pseudo.stack_name, resource.logical_id, max_length=max_length, lowercase=lowercase
        )

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return ":".join(
            [
                "arn",
                self.pseudo.partition,
                service,
                self.pseudo.region if region else "",
                self.pseudo.account_id if account else "",
                resource,
            ]
        )
