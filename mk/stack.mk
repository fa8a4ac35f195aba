# mk/stack.mk — local dependency stack (MariaDB with a ROW binlog, DynamoDB Local, the EventBridge bus).
# Included by the main Makefile:  include mk/stack.mk
# Ports: STACK_MYSQL_PORT (3307), STACK_DYNAMODB_PORT (8000), STACK_EVENTBUS_PORT (4010); see scripts/stack.sh.
# For tests:  eval "$$(scripts/stack.sh env)"
#   (STRANGLER_TEST_MYSQL_DSN, STRANGLER_TEST_DYNAMODB_ENDPOINT, STRANGLER_TEST_EVENTBUS_ENDPOINT)

STACK_SH := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))../scripts/stack.sh)

.PHONY: stack-up stack-down stack-status stack-reset stack-env

stack-up: ## Install what is missing (apt, npm, aws CLI), build bin/strangler, start MariaDB (:3307), DynamoDB Local (:8000), the bus (:4010)
	@bash $(STACK_SH) up

stack-down: ## Stop the local stack (MariaDB data persists)
	@bash $(STACK_SH) down

stack-status: ## Show the local stack; fails if a service is not running
	@bash $(STACK_SH) status

stack-reset: ## Stop the local stack and delete its data (.stack/)
	@bash $(STACK_SH) reset

stack-env: ## Print export lines for the test endpoints
	@bash $(STACK_SH) env
