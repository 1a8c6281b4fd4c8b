"""Intune's managed devices (``/deviceManagement/managedDevices``): the list, larger
pages than the directory's (a ``$top`` out of range is clamped, not refused), and one
device.
"""

from ..errors import json_response
from .handler import graph_handler
from .odata import (
    page_size,
    paged,
    parse_filter,
    parse_select,
    select_fragment,
    select_objects,
    serialize,
)
from .resources import DEVICES

DEVICE_PAGE = 1000


@graph_handler
def list_managed_devices(ctx):
    select = parse_select(ctx, DEVICES)
    size = page_size(ctx, DEVICE_PAGE, DEVICE_PAGE, strict=False)
    devices = select_objects(ctx, "device", parse_filter(ctx, "ManagedDevice", DEVICES.filterable))
    context = ctx.context("deviceManagement/managedDevices" + select_fragment(select))
    return paged(ctx, context, devices, size, lambda d: serialize(d, DEVICES, select))


@graph_handler
def get_managed_device(ctx, device_id):
    device = ctx.tenant.devices.get(device_id)
    if device is None:
        raise ctx.fail(
            404, "ResourceNotFound", f"Resource not found for the segment '{device_id}'."
        )
    select = parse_select(ctx, DEVICES)
    body = {"@odata.context": ctx.context("deviceManagement/managedDevices/$entity")}
    body.update(serialize(device, DEVICES, select))
    return json_response(body)
