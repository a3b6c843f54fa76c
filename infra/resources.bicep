// Everything in the resource group: identity, storage, Key Vault, monitoring, the Flex
// Consumption plan and the function app with its settings. Role assignments are in rbac.bicep.
//
// API versions are pinned; no registry modules are used, so the templates parse and build
// without fetching anything but the Bicep compiler itself.

param location string
param tags object
param resourceToken string
param instanceMemoryMB int
param maximumInstanceCount int
param microsoftClientId string
@secure()
param microsoftClientSecret string
param googleClientId string
@secure()
param googleClientSecret string
param authJwksUrl string
param authIssuer string
param authAudience string
param allowedReturnUrls string

// Declared in azure.yaml under services; azd finds the deployment target by this tag.
var serviceName = 'api'
var functionAppName = 'func-api-${resourceToken}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(resourceToken, 7)}'
// The queues the queue triggers listen on (shared/sync/context.py), and the poison queues the
// Functions host moves a message to after maxDequeueCount (host.json). The health view counts
// sync-calendar-poison. Created here so a trigger never polls a queue that does not exist yet;
// the app's own clients would also create them on first use (Storage Queue Data Contributor).
var queueNames = [
  'sync-calendar'
  'sync-calendar-poison'
  'notify-host-app'
  'notify-host-app-poison'
]
// Names of the Key Vault secrets the app settings refer to (never the values).
var microsoftSecretName = 'microsoft-client-secret'
var googleSecretName = 'google-client-secret'

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-api-${resourceToken}'
  location: location
  tags: tags
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'st${resourceToken}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    // Identity only: no account keys, no SAS signed with them.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices' }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// Flex Consumption deploys the app package into this container (functionAppConfig.deployment).
resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: { publicAccess: 'None' }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [
  for queueName in queueNames: {
    parent: queueService
    name: queueName
  }
]

// Tables are created by the app on first use (shared/storage/azure_tables.py), which the Storage
// Table Data Contributor role allows; their names depend on TABLE_PREFIX.
resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: 'kv-${resourceToken}'
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    // Purge protection stays off: the app purges a deleted token at once
    // (KEY_VAULT_PURGE_ON_DELETE=true), which purge protection would forbid.
    publicNetworkAccess: 'Enabled'
  }
}

resource microsoftSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(microsoftClientSecret)) {
  parent: vault
  name: microsoftSecretName
  properties: { value: microsoftClientSecret, contentType: 'text/plain' }
}

resource googleSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(googleClientSecret)) {
  parent: vault
  name: googleSecretName
  properties: { value: googleClientSecret, contentType: 'text/plain' }
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${resourceToken}'
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${resourceToken}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    // Ingestion with Entra ID only (the identity has Monitoring Metrics Publisher).
    DisableLocalAuth: true
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${resourceToken}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: functionAppName
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references in app settings resolve with this identity.
    keyVaultReferenceIdentity: identity.id
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: { name: 'python', version: '3.11' }
    }
  }
  dependsOn: [deploymentContainer]
}

var publicBaseUrl = 'https://${site.properties.defaultHostName}'

// Every setting the app reads in Azure (shared/settings.py); the rest keep their documented
// defaults (docs/operations.md, "Settings"). No value here is a secret: the provider client
// secrets are Key Vault references resolved by the platform with the app's identity.
var appSettings = {
  // The Functions host's own storage (triggers, timers, leases), identity-based.
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.properties.clientId
  AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
  AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
  // DefaultAzureCredential in the app's own clients picks the user-assigned identity by this.
  AZURE_CLIENT_ID: identity.properties.clientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'
  STORAGE_TABLE_ENDPOINT: storage.properties.primaryEndpoints.table
  STORAGE_QUEUE_ENDPOINT: storage.properties.primaryEndpoints.queue
  SECRET_STORE: 'keyvault'
  KEY_VAULT_URL: vault.properties.vaultUri
  KEY_VAULT_PURGE_ON_DELETE: 'true'
  AUTH_MODE: 'jwks'
  AUTH_JWKS_URL: authJwksUrl
  AUTH_ISSUER: authIssuer
  AUTH_AUDIENCE: authAudience
  PUBLIC_BASE_URL: publicBaseUrl
  ALLOWED_RETURN_URLS: allowedReturnUrls
  MICROSOFT_CLIENT_ID: microsoftClientId
  MICROSOFT_CLIENT_SECRET: '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=${microsoftSecretName})'
  GOOGLE_CLIENT_ID: googleClientId
  GOOGLE_CLIENT_SECRET: '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=${googleSecretName})'
  LOG_FORMAT: 'json'
}

resource siteSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: appSettings
  // The identity must hold its roles before the host starts with these settings.
  dependsOn: [rbac]
}

module rbac './rbac.bicep' = {
  name: 'rbac'
  params: {
    principalId: identity.properties.principalId
    storageAccountName: storage.name
    keyVaultName: vault.name
    appInsightsName: appInsights.name
  }
}

output functionAppName string = site.name
output publicBaseUrl string = publicBaseUrl
output keyVaultUri string = vault.properties.vaultUri
output applicationInsightsConnectionString string = appInsights.properties.ConnectionString
output identityClientId string = identity.properties.clientId
