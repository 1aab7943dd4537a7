"""The Terraform root and modules follow the operator's module convention.

Every .tf file is parsed (python-hcl2); the rules are those of ../README.md's Terraform
section: modules-k8s/<service>/ with main/variables/outputs/versions, typed and described
variables, enums validated with messages naming every allowed value, described outputs, an
enable_k8s toggle defaulting to false, the labels and names of the convention, no
ignore_changes, and one provider pin for the root and every module.
"""
import re
from pathlib import Path

import hcl2
import pytest

TOP = Path(__file__).resolve().parents[2]
ROOT = TOP / 'terraform'
MODULES = sorted(p for p in (ROOT / 'modules-k8s').iterdir() if p.is_dir())


def unquote(value):
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def clean(value):
    """A parsed value without python-hcl2's quotes and bookkeeping keys."""
    if isinstance(value, dict):
        return {unquote(k): clean(v) for k, v in value.items() if not k.startswith('__')}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return unquote(value)


def blocks(parsed, kind):
    """{name: body} of every `kind "name" {}` block of a parsed file."""
    out = {}
    for entry in parsed.get(kind, []):
        for name, body in entry.items():
            out[unquote(name)] = body
    return out


def load(directory):
    parsed = {}
    for tf in sorted(directory.glob('*.tf')):
        with tf.open() as f:
            data = hcl2.load(f)
        for kind, entries in data.items():
            if isinstance(entries, list):
                parsed.setdefault(kind, []).extend(entries)
    return parsed


def test_modules_exist():
    assert [m.name for m in MODULES] == ['overseerr', 'whoami', 'whoami-client']


@pytest.mark.parametrize('module', MODULES, ids=lambda m: m.name)
def test_module_files(module):
    names = {p.name for p in module.glob('*.tf')}
    assert {'main.tf', 'variables.tf', 'outputs.tf', 'versions.tf'} <= names
    assert names <= {'main.tf', 'variables.tf', 'outputs.tf', 'versions.tf', 'secrets.tf', 'vpa.tf', 'mesh.tf'}


@pytest.mark.parametrize('directory', [ROOT] + MODULES, ids=lambda m: m.name)
def test_variables_typed_described_and_enums_list_their_values(directory):
    variables = blocks(load(directory), 'variable')
    assert variables
    for name, body in variables.items():
        assert 'type' in body, name
        description = unquote(body.get('description', ''))
        # Says what it does, not just its name.
        assert len(description) > 25 and description.lower().rstrip('.') != name.replace('_', ' '), name
        for rule in body.get('validation', []):
            message = unquote(rule['error_message'])
            listed = re.search(r'contains\(\[([^\]]*)\]', rule['condition'])
            if listed:
                for allowed in re.findall(r'"([^"]*)"', listed.group(1)):
                    assert allowed in message, (name, allowed, message)


@pytest.mark.parametrize('directory', [ROOT] + MODULES, ids=lambda m: m.name)
def test_outputs_described(directory):
    outputs = blocks(load(directory), 'output')
    assert outputs
    for name, body in outputs.items():
        assert len(unquote(body.get('description', ''))) > 15, name


@pytest.mark.parametrize('module', MODULES, ids=lambda m: m.name)
def test_enable_toggle_defaults_off(module):
    toggle = blocks(load(module), 'variable')['enable_k8s']
    assert toggle['type'] in ('bool', '${bool}') and toggle['default'] is False


@pytest.mark.parametrize('module', MODULES, ids=lambda m: m.name)
def test_labels_and_names(module):
    parsed = load(module)
    local = {}
    for entry in parsed['locals']:
        local.update(entry)
    assert unquote(local['name']) == module.name
    assert clean(local['labels']) == {'app': '${local.name}', 'managed-by': 'terraform', 'environment': '${var.environment}'}
    text = ''.join(p.read_text() for p in module.glob('*.tf'))
    # Every object carries the labels; the VPA and the data claim are named as the convention says.
    assert text.count('labels = local.labels') + text.count('labels = local.namespace_labels') >= text.count('kind       =')
    if (module / 'vpa.tf').exists():
        assert 'name = "${local.name}-vpa"' in text
    if 'PersistentVolumeClaim' in text:
        assert 'name = "${local.name}-data"' in text


@pytest.mark.parametrize('directory', [ROOT] + MODULES, ids=lambda m: m.name)
def test_no_ignore_changes_and_one_provider_pin(directory):
    parsed = load(directory)
    text = ''.join(p.read_text() for p in directory.glob('*.tf'))
    assert 'ignore_changes' not in text
    (terraform,) = parsed['terraform']
    assert unquote(terraform['required_version']) == '>= 1.2.0, < 2.0.0'
    (providers,) = clean(terraform['required_providers'])
    assert providers == {'kubectl': {'source': 'gavinbunney/kubectl', 'version': '~> 1.19'}}


def test_root_backend_and_module_names():
    parsed = load(ROOT)
    (terraform,) = parsed['terraform']
    assert list(clean(terraform['backend'][0])) == ['pg']
    modules = blocks(parsed, 'module')
    # module "<service>_k8s" from ./modules-k8s/<service>: never a Nomad module's name.
    assert {name: unquote(body['source']) for name, body in modules.items()} == {
        'whoami_k8s': './modules-k8s/whoami',
        'whoami_client_k8s': './modules-k8s/whoami-client',
        'overseerr_k8s': './modules-k8s/overseerr',
    }


def test_overseerr_contract():
    parsed = load(ROOT / 'modules-k8s' / 'overseerr')
    variables = blocks(parsed, 'variable')
    assert variables['replicas']['validation'][0]['condition'] == '${var.replicas == 1}'
    assert unquote(variables['s3_bucket']['default']) == 'overseerr-k8s-litestream'
    assert unquote(variables['vault_secret_path']['default']) == 'default/overseerr-k8s'
    assert unquote(variables['hostname']['default']) == 'overseerr-k8s.brmartin.co.uk'
    assert re.search(r':0\.5\.\d+$', unquote(variables['litestream_image']['default']))
    text = (ROOT / 'modules-k8s' / 'overseerr' / 'main.tf').read_text()
    assert 'port             = 5055' in text and 'path = "/api/v1/status"' in text
    assert 'force-path-style = true' in text
    # The guard restores only when the claim has no database, and exits non-zero when a
    # replica exists but the restore fails or leaves nothing.
    assert 'restore -config "$conf" -if-db-not-exists "$db" ||' in text
    assert 'if [ ! -s "$db" ]; then' in text


def test_images_pinned():
    for module in MODULES:
        for name, body in blocks(load(module), 'variable').items():
            if name.endswith('image'):
                image = unquote(body['default'])
                assert re.search(r':[0-9v][0-9A-Za-z.]*$', image) and ':latest' not in image, (module.name, image)
