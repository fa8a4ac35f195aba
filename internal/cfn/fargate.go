package cfn

import (
	"fmt"
	"strconv"

	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/ec2"
	"github.com/awslabs/goformation/v7/cloudformation/ecs"
	elb "github.com/awslabs/goformation/v7/cloudformation/elasticloadbalancingv2"
	"github.com/awslabs/goformation/v7/cloudformation/iam"
)

const (
	idCluster       = "Cluster"
	idExecutionRole = "TaskExecutionRole"
	idALBGroup      = "ProxyLoadBalancerSecurityGroup"
	idTargetGroup   = "ProxyTargetGroup"
	idListener      = "ProxyListener"
)

// configOf is the config file (part of configs/) each task reads.
var configOf = map[string]string{PartCDC: "cdc", PartProxy: "proxy", PartBackfill: "migrator"}

// env is an ECS environment.
func env(kv ...string) []ecs.TaskDefinition_KeyValuePair {
	var out []ecs.TaskDefinition_KeyValuePair
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, ecs.TaskDefinition_KeyValuePair{Name: new(kv[i]), Value: new(kv[i+1])})
	}
	return out
}

// group adds a security group of the VPC: no ingress unless given.
func (b *builder) group(logical, desc string, ingress ...ec2.SecurityGroup_Ingress) {
	b.t.Resources[logical] = &ec2.SecurityGroup{GroupDescription: desc, VpcId: new(cloudformation.Ref("VpcId")), SecurityGroupIngress: ingress}
}

// task adds part's task definition (Fargate, arm64), its log group and role.
func (b *builder) task(part string, command []string, environment []ecs.TaskDefinition_KeyValuePair, ports ...int) *ecs.TaskDefinition {
	lg := b.logGroup(id(part, "task", "logs"), "/strangler/"+b.s.Name+"/"+part)
	var platform []map[string]any
	if part == PartCDC {
		platform = append(platform, logsStatement(b.logGroup("CdcMetricsLogs", cdcMetricsGroup(b.s.Name))))
	}
	role := b.role(part, "ecs-tasks.amazonaws.com", platform...)
	c := ecs.TaskDefinition_ContainerDefinition{
		Name: part, Image: cloudformation.Ref("ImageUri"), Essential: new(true),
		Command:     append(command, "--config", "/etc/strangler/"+configOf[part]+".yaml", "--log-format", "json"),
		Environment: append(env("STRANGLER_DEV", "0"), environment...),
		LogConfiguration: &ecs.TaskDefinition_LogConfiguration{LogDriver: "awslogs", Options: map[string]string{
			"awslogs-group": cloudformation.Ref(lg), "awslogs-region": cloudformation.Ref("AWS::Region"), "awslogs-stream-prefix": part,
		}},
	}
	if part != PartProxy {
		c.Secrets = []ecs.TaskDefinition_Secret{{Name: "STRANGLER_" + map[string]string{PartCDC: "CDC", PartBackfill: "MIGRATOR"}[part] + "_MYSQL_DSN",
			ValueFrom: cloudformation.Sub("${" + idMySQLSecret + "}:dsn::")}}
	}
	for _, p := range ports {
		c.PortMappings = append(c.PortMappings, ecs.TaskDefinition_PortMapping{ContainerPort: new(p), Protocol: new("tcp")})
	}
	td := &ecs.TaskDefinition{
		Family: new(b.s.Name + "-" + part), Cpu: new("512"), Memory: new("1024"), NetworkMode: new("awsvpc"),
		RequiresCompatibilities: []string{"FARGATE"},
		RuntimePlatform:         &ecs.TaskDefinition_RuntimePlatform{CpuArchitecture: new("ARM64"), OperatingSystemFamily: new("LINUX")},
		ExecutionRoleArn:        new(cloudformation.GetAtt(idExecutionRole, "Arn")), TaskRoleArn: new(cloudformation.GetAtt(role, "Arn")),
		ContainerDefinitions: []ecs.TaskDefinition_ContainerDefinition{c},
	}
	b.t.Resources[id(part, "task")] = td
	return td
}

// service runs count tasks of task in the private subnets, no public IP.
func (b *builder) service(part, task, group string, count int) *ecs.Service {
	s := &ecs.Service{
		ServiceName: new(b.s.Name + "-" + part), Cluster: new(cloudformation.Ref(idCluster)), TaskDefinition: new(cloudformation.Ref(task)),
		LaunchType: new("FARGATE"), DesiredCount: new(count),
		NetworkConfiguration: &ecs.Service_NetworkConfiguration{AwsvpcConfiguration: &ecs.Service_AwsVpcConfiguration{
			AssignPublicIp: new("DISABLED"), Subnets: []string{cloudformation.Ref("PrivateSubnets")}, SecurityGroups: []string{cloudformation.Ref(group)},
		}},
	}
	b.t.Resources[id(part, "service")] = s
	return s
}

// fargate adds the cluster, the cdc (one reader, a standby on deploys), the
// proxy (replicas behind the ALB) and the backfill (a task definition to
// run on demand).
func (b *builder) fargate() {
	b.t.Resources[idCluster] = &ecs.Cluster{ClusterName: new(b.s.Name)}
	b.t.Resources[idExecutionRole] = &iam.Role{
		Description:              new("ECS pulling the image, writing task logs and reading the MySQL secret"),
		AssumeRolePolicyDocument: assume("ecs-tasks.amazonaws.com"),
		ManagedPolicyArns:        []string{cloudformation.Sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy")},
		Policies: []iam.Role_Policy{{PolicyName: "mysql-secret", PolicyDocument: map[string]any{"Version": "2012-10-17", "Statement": []any{
			statement("ReadMySQLSecret", []string{"secretsmanager:GetSecretValue"}, cloudformation.Ref(idMySQLSecret)),
		}}}},
	}
	names := []string{
		"STRANGLER_CDC_TABLE", cloudformation.Ref(idOrdersTable), "STRANGLER_CDC_CONTROL_TABLE", cloudformation.Ref(idControlTable),
		"STRANGLER_CDC_EVENTS_BUS", cloudformation.Ref(idBus), "STRANGLER_CDC_EVENTS_SOURCE", b.s.CDCSource,
	}
	b.group("CdcSecurityGroup", "strangler cdc: no ingress")
	// One reader holds the lease; on a deploy or a replacement the new task
	// starts beside the old one and stands by until the lease is free.
	td := b.task(PartCDC, []string{"cdc", "run"}, env(append(names, "STRANGLER_CDC_METRICS_LISTEN", "127.0.0.1:9102")...))
	td.ContainerDefinitions = append(td.ContainerDefinitions, b.cdcMetrics())
	cdc := b.service(PartCDC, id(PartCDC, "task"), "CdcSecurityGroup", 1)
	cdc.DeploymentConfiguration = &ecs.Service_DeploymentConfiguration{MinimumHealthyPercent: new(100), MaximumPercent: new(200)}

	b.group("BackfillSecurityGroup", "strangler backfill: no ingress")
	b.task(PartBackfill, []string{"migrate", "backfill"}, env(
		"STRANGLER_MIGRATOR_TABLE", cloudformation.Ref(idOrdersTable), "STRANGLER_MIGRATOR_CONTROL_TABLE", cloudformation.Ref(idControlTable)))
	b.proxy()
}

// proxy adds the internet-facing ALB and the proxy's service behind it.
func (b *builder) proxy() {
	port, admin := b.s.ProxyPort, b.s.ProxyAdminPort
	b.group(idALBGroup, "strangler proxy ALB: HTTP from anywhere (the one public entry besides the HTTP API)",
		ec2.SecurityGroup_Ingress{IpProtocol: "tcp", FromPort: new(80), ToPort: new(80), CidrIp: new("0.0.0.0/0")})
	fromALB := func(p int) ec2.SecurityGroup_Ingress {
		return ec2.SecurityGroup_Ingress{IpProtocol: "tcp", FromPort: new(p), ToPort: new(p), SourceSecurityGroupId: new(cloudformation.Ref(idALBGroup))}
	}
	b.group("ProxySecurityGroup", "strangler proxy: traffic and health checks from the ALB only", fromALB(port), fromALB(admin))
	b.t.Resources[idALB] = &elb.LoadBalancer{
		Name: new(b.s.Name + "-proxy"), Scheme: new("internet-facing"), Type: new("application"),
		Subnets: []string{cloudformation.Ref("PublicSubnets")}, SecurityGroups: []string{cloudformation.Ref(idALBGroup)},
	}
	b.t.Resources[idTargetGroup] = &elb.TargetGroup{
		Port: new(port), Protocol: new("HTTP"), TargetType: new("ip"), VpcId: new(cloudformation.Ref("VpcId")),
		HealthCheckPath: new("/healthz"), HealthCheckPort: new(strconv.Itoa(admin)),
	}
	b.t.Resources[idListener] = &elb.Listener{
		LoadBalancerArn: cloudformation.Ref(idALB), Port: new(80), Protocol: new("HTTP"),
		DefaultActions: []elb.Listener_Action{{Type: "forward", TargetGroupArn: new(cloudformation.Ref(idTargetGroup))}},
	}
	b.task(PartProxy, []string{"proxy", "serve"}, env(append(traceEnv(),
		"STRANGLER_PROXY_LISTEN", "0.0.0.0:"+strconv.Itoa(port), "STRANGLER_PROXY_ADMIN_LISTEN", "0.0.0.0:"+strconv.Itoa(admin),
		"STRANGLER_PROXY_BACKENDS_LEGACY", cloudformation.Ref("LegacyURL"),
		"STRANGLER_PROXY_BACKENDS_NEW", cloudformation.GetAtt(idHTTPAPI, "ApiEndpoint"),
		"STRANGLER_PROXY_CONTROL_TABLE", cloudformation.Ref(idControlTable))...), port, admin)
	s := b.service(PartProxy, id(PartProxy, "task"), "ProxySecurityGroup", b.s.ProxyReplicas)
	s.LoadBalancers = []ecs.Service_LoadBalancer{{ContainerName: new(PartProxy), ContainerPort: new(port), TargetGroupArn: new(cloudformation.Ref(idTargetGroup))}}
	s.AWSCloudFormationDependsOn = []string{idListener}
}

func cdcMetricsGroup(name string) string { return "/strangler/" + name + "/cdc-metrics" }

// cdcMetrics is the CloudWatch agent beside the cdc: it scrapes the cdc's
// /metrics and writes strangler_cdc_lag_seconds as embedded metric format
// to the CdcMetricsLogs group, where CloudWatch turns it into the metric
// the lag alarm watches (no cloudwatch:PutMetricData, which only takes "*").
func (b *builder) cdcMetrics() ecs.TaskDefinition_ContainerDefinition {
	prom := fmt.Sprintf("global:\n  scrape_interval: 30s\nscrape_configs:\n  - job_name: cdc\n    static_configs:\n      - targets: ['127.0.0.1:9102']\n        labels: {Cluster: %s}\n", b.s.Name)
	agent := fmt.Sprintf(`{"logs":{"metrics_collected":{"prometheus":{"log_group_name":%q,"prometheus_config_path":"env:PROMETHEUS_CONFIG_CONTENT","emf_processor":{"metric_namespace":%q,"metric_declaration":[{"source_labels":["job"],"label_matcher":"^cdc$","dimensions":[["Cluster","stage"]],"metric_selectors":["^%s$"]}]}}}}}`,
		cdcMetricsGroup(b.s.Name), CDCLagNamespace, CDCLagMetric)
	return ecs.TaskDefinition_ContainerDefinition{
		Name: "metrics", Image: cloudformation.Ref("CloudWatchAgentImage"), Essential: new(false),
		Environment: env("CW_CONFIG_CONTENT", agent, "PROMETHEUS_CONFIG_CONTENT", prom),
		LogConfiguration: &ecs.TaskDefinition_LogConfiguration{LogDriver: "awslogs", Options: map[string]string{
			"awslogs-group": cloudformation.Ref(id(PartCDC, "task", "logs")), "awslogs-region": cloudformation.Ref("AWS::Region"), "awslogs-stream-prefix": "metrics",
		}},
	}
}
