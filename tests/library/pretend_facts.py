#!/usr/bin/python
"""A facts module for tests: returns the facts in $AISHELL_PRETEND_FACTS (JSON).

Listed after ansible.builtin.setup in `ansible_facts_modules`, its facts win,
so a real playbook (playbooks/bootstrap.yml) runs here as if on another OS.
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    module.exit_json(changed=False, ansible_facts=json.loads(os.environ.get("AISHELL_PRETEND_FACTS", "{}")))


if __name__ == "__main__":
    main()
