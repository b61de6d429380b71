<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
<context>
    <name>CaFileField</name>
    <message>
        <source>Browse…</source>
        <translation>浏览…</translation>
    </message>
    <message>
        <source>Company CA certificate</source>
        <translation>公司 CA 证书</translation>
    </message>
    <message>
        <source>Certificates (*.pem *.crt *.cer);;All files (*)</source>
        <translation>证书 (*.pem *.crt *.cer);;所有文件 (*)</translation>
    </message>
</context>
<context>
    <name>ChildSection</name>
    <message>
        <source>Edit…</source>
        <translation>编辑…</translation>
    </message>
</context>
<context>
    <name>Choices</name>
    <message>
        <source>A</source>
        <translation>A</translation>
    </message>
    <message>
        <source>B</source>
        <translation>B</translation>
    </message>
    <message>
        <source>C</source>
        <translation>C</translation>
    </message>
    <message>
        <source>D</source>
        <translation>D</translation>
    </message>
    <message>
        <source>Lead</source>
        <translation>线索</translation>
    </message>
    <message>
        <source>Prospect</source>
        <translation>潜在客户</translation>
    </message>
    <message>
        <source>Active</source>
        <translation>活跃</translation>
    </message>
    <message>
        <source>Dormant</source>
        <translation>休眠</translation>
    </message>
    <message>
        <source>Lost</source>
        <translation>流失</translation>
    </message>
    <message>
        <source>Call</source>
        <translation>电话</translation>
    </message>
    <message>
        <source>Visit</source>
        <translation>拜访</translation>
    </message>
    <message>
        <source>Email</source>
        <translation>邮件</translation>
    </message>
    <message>
        <source>WeChat</source>
        <translation>微信</translation>
    </message>
    <message>
        <source>Meeting</source>
        <translation>会议</translation>
    </message>
    <message>
        <source>Other</source>
        <translation>其他</translation>
    </message>
    <message>
        <source>Initial</source>
        <translation>初步接触</translation>
    </message>
    <message>
        <source>Qualified</source>
        <translation>已确认需求</translation>
    </message>
    <message>
        <source>Proposal</source>
        <translation>方案报价</translation>
    </message>
    <message>
        <source>Negotiation</source>
        <translation>商务谈判</translation>
    </message>
    <message>
        <source>Won</source>
        <translation>赢单</translation>
    </message>
</context>
<context>
    <name>ConflictDialog</name>
    <message>
        <source>someone</source>
        <translation>某人</translation>
    </message>
    <message>
        <source>you (on another device)</source>
        <translation>您（在另一台设备上）</translation>
    </message>
    <message>
        <source>Yes</source>
        <translation>是</translation>
    </message>
    <message>
        <source>No</source>
        <translation>否</translation>
    </message>
    <message>
        <source>Resolve conflict — {name}</source>
        <translation>解决冲突 — {name}</translation>
    </message>
    <message>
        <source>{entity}: {name}</source>
        <translation>{entity}：{name}</translation>
    </message>
    <message>
        <source>You and {who} changed the same fields of this {thing} before your changes met. Choose for each field which value to keep, or write a merged one. Nothing is overwritten until you click Resolve.</source>
        <translation>您和{who}在同步之前修改了此{thing}的相同字段。请为每个字段选择保留哪个值，或填写合并后的值。点击“解决”之前，任何内容都不会被覆盖。</translation>
    </message>
    <message>
        <source>Field</source>
        <translation>字段</translation>
    </message>
    <message>
        <source>You both started from</source>
        <translation>双方修改前的值</translation>
    </message>
    <message>
        <source>Your value</source>
        <translation>您的值</translation>
    </message>
    <message>
        <source>Their value</source>
        <translation>对方的值</translation>
    </message>
    <message>
        <source>Merged value</source>
        <translation>合并后的值</translation>
    </message>
    <message>
        <source>Keep all mine</source>
        <translation>全部保留我的</translation>
    </message>
    <message>
        <source>Keep all theirs</source>
        <translation>全部保留对方的</translation>
    </message>
    <message>
        <source>Decide later</source>
        <translation>稍后决定</translation>
    </message>
    <message>
        <source>Resolve</source>
        <translation>解决</translation>
    </message>
    <message>
        <source>You changed this {thing}, but it is no longer shared with you: it was given to someone else or deleted on the server. Your changes below cannot be sent.</source>
        <translation>您修改了此{thing}，但它已不再与您共享：它已被转给他人或在服务器上被删除。下面的修改无法发送。</translation>
    </message>
    <message>
        <source>The server no longer shares it with you: it cannot be kept.</source>
        <translation>服务器已不再与您共享该记录：无法保留。</translation>
    </message>
    <message>
        <source>You changed this {thing}, but {who} deleted it on {when}.</source>
        <translation>您修改了此{thing}，但{who}已于 {when} 将其删除。</translation>
    </message>
    <message>
        <source>You changed this {thing}, but {who} deleted it.</source>
        <translation>您修改了此{thing}，但{who}已将其删除。</translation>
    </message>
    <message>
        <source>Deleting it removes its contacts, follow-ups and deals from this computer.</source>
        <translation>删除后，其联系人、跟进记录和商机也会从本机移除。</translation>
    </message>
    <message>
        <source>Keep the record (with my changes)</source>
        <translation>保留记录（含我的修改）</translation>
    </message>
    <message>
        <source>Delete it</source>
        <translation>删除</translation>
    </message>
    <message>
        <source>Your changes:</source>
        <translation>您的修改：</translation>
    </message>
    <message>
        <source>Before</source>
        <translation>修改前</translation>
    </message>
    <message>
        <source>You deleted this {thing}; {who} changed it meanwhile, on {when}.</source>
        <translation>您删除了此{thing}；与此同时{who}在 {when} 修改了它。</translation>
    </message>
    <message>
        <source>You deleted this {thing}; {who} changed it meanwhile.</source>
        <translation>您删除了此{thing}；与此同时{who}修改了它。</translation>
    </message>
    <message>
        <source>Keeping it also brings back its contacts, follow-ups and deals; deleting it deletes them too.</source>
        <translation>保留会一并恢复其联系人、跟进记录和商机；删除则会一并删除它们。</translation>
    </message>
    <message>
        <source>Keep the record (with their changes)</source>
        <translation>保留记录（含对方的修改）</translation>
    </message>
    <message>
        <source>Delete it anyway</source>
        <translation>仍然删除</translation>
    </message>
    <message>
        <source>What {who} changed:</source>
        <translation>{who}修改了：</translation>
    </message>
    <message>
        <source>Now</source>
        <translation>现在</translation>
    </message>
    <message>
        <source>No field changes were reported.</source>
        <translation>没有字段修改记录。</translation>
    </message>
    <message>
        <source>Choose which value to keep for: {fields}.</source>
        <translation>请选择以下字段要保留的值：{fields}。</translation>
    </message>
    <message>
        <source>A merged value is not valid: see the message under it.</source>
        <translation>合并后的值无效：请查看其下方的提示。</translation>
    </message>
    <message>
        <source>Conflict settled</source>
        <translation>冲突已解决</translation>
    </message>
    <message>
        <source>This conflict was settled meanwhile (by a sync): nothing to do.</source>
        <translation>此冲突已在同步中解决，无需操作。</translation>
    </message>
    <message>
        <source>This conflict could not be resolved: {reason}</source>
        <translation>无法解决此冲突：{reason}</translation>
    </message>
</context>
<context>
    <name>ConflictTableModel</name>
    <message>
        <source>Record</source>
        <translation>记录</translation>
    </message>
    <message>
        <source>Type</source>
        <translation>类型</translation>
    </message>
    <message>
        <source>Fields</source>
        <translation>字段</translation>
    </message>
    <message>
        <source>What happened</source>
        <translation>发生了什么</translation>
    </message>
    <message>
        <source>Changed by</source>
        <translation>修改人</translation>
    </message>
    <message>
        <source>When</source>
        <translation>时间</translation>
    </message>
    <message>
        <source>{name} of customer {customer}</source>
        <translation>客户 {customer} 的 {name}</translation>
    </message>
</context>
<context>
    <name>ConflictsPage</name>
    <message>
        <source>Changed on both sides</source>
        <translation>双方都修改了</translation>
    </message>
    <message>
        <source>You changed it; deleted elsewhere</source>
        <translation>您修改了；别处已删除</translation>
    </message>
    <message>
        <source>You deleted it; changed elsewhere</source>
        <translation>您删除了；别处已修改</translation>
    </message>
    <message>
        <source>Conflicts</source>
        <translation>冲突</translation>
    </message>
    <message>
        <source>Resolve…</source>
        <translation>解决…</translation>
    </message>
    <message>
        <source>Open customer</source>
        <translation>打开客户</translation>
    </message>
    <message>
        <source>Nothing to decide</source>
        <translation>没有需要决定的事项</translation>
    </message>
    <message>
        <source>No conflicts: every change you made agrees with the server. When you and a colleague change the same field before syncing, the conflict waits here for you to decide. Nothing is overwritten until you do.</source>
        <translation>没有冲突：您的所有修改都与服务器一致。当您和同事在同步前修改了同一字段时，冲突会在这里等您决定。在您决定之前，任何内容都不会被覆盖。</translation>
    </message>
    <message>
        <source>{count} record(s) need your decision: your change and one made elsewhere disagree. Until you decide, your value is kept here and not sent.</source>
        <translation>{count} 条记录需要您决定：您的修改与别处的修改不一致。在您决定之前，您的值会保留在本机且不会发送。</translation>
    </message>
</context>
<context>
    <name>ContactDialog</name>
    <message>
        <source>New contact</source>
        <translation>新建联系人</translation>
    </message>
    <message>
        <source>Edit contact</source>
        <translation>编辑联系人</translation>
    </message>
</context>
<context>
    <name>CustomerDialog</name>
    <message>
        <source>New customer</source>
        <translation>新建客户</translation>
    </message>
    <message>
        <source>Create</source>
        <translation>创建</translation>
    </message>
</context>
<context>
    <name>CustomerListView</name>
    <message>
        <source>Search name, pinyin, initials or phone…</source>
        <translation>搜索姓名、拼音、首字母或电话…</translation>
    </message>
    <message>
        <source>Type a name, its pinyin or initials (zs for 张三), a company or phone digits</source>
        <translation>输入姓名、拼音或首字母（zs 即张三）、公司名或电话号码</translation>
    </message>
    <message>
        <source>All levels</source>
        <translation>全部级别</translation>
    </message>
    <message>
        <source>All statuses</source>
        <translation>全部状态</translation>
    </message>
    <message>
        <source>My customers</source>
        <translation>我的客户</translation>
    </message>
    <message>
        <source>Sign in to see which customers are yours</source>
        <translation>登录后可查看哪些客户归属于您</translation>
    </message>
    <message>
        <source>1 customer</source>
        <translation>1 个客户</translation>
    </message>
    <message>
        <source>{count} customers</source>
        <translation>{count} 个客户</translation>
    </message>
</context>
<context>
    <name>CustomerTableModel</name>
    <message>
        <source>Sync</source>
        <translation>同步</translation>
    </message>
    <message>
        <source>Whether the server has this customer's latest changes</source>
        <translation>服务器是否已有该客户的最新修改</translation>
    </message>
    <message>
        <source>Mobile, or the phone when there is no mobile</source>
        <translation>手机号；没有手机号时显示电话</translation>
    </message>
    <message>
        <source>Click to sort by this column</source>
        <translation>点击按此列排序</translation>
    </message>
    <message>
        <source>Changed here; waiting to be sent to the server.</source>
        <translation>已在本机修改，等待发送到服务器。</translation>
    </message>
    <message>
        <source>Changed here and on the server: open the customer to choose what to keep.</source>
        <translation>本机和服务器上都修改过：请打开该客户选择保留哪个值。</translation>
    </message>
    <message>
        <source>The server refused the last change: {reason}</source>
        <translation>服务器拒绝了最近一次修改：{reason}</translation>
    </message>
    <message>
        <source>The server refused the last change.</source>
        <translation>服务器拒绝了最近一次修改。</translation>
    </message>
    <message>
        <source>The server has this customer's latest changes.</source>
        <translation>服务器已有该客户的最新修改。</translation>
    </message>
    <message>
        <source>Mobile: {mobile}
Phone: {phone}</source>
        <translation>手机：{mobile}
电话：{phone}</translation>
    </message>
</context>
<context>
    <name>CustomerWorkspace</name>
    <message>
        <source>Sync state</source>
        <translation>同步状态</translation>
    </message>
    <message>
        <source>Revert</source>
        <translation>还原</translation>
    </message>
    <message>
        <source>Throw away the unsaved changes</source>
        <translation>放弃未保存的修改</translation>
    </message>
    <message>
        <source>Save</source>
        <translation>保存</translation>
    </message>
    <message>
        <source>Save the changes (Ctrl+S)</source>
        <translation>保存修改 (Ctrl+S)</translation>
    </message>
    <message>
        <source>Details</source>
        <translation>详细信息</translation>
    </message>
    <message>
        <source>Log a follow-up</source>
        <translation>记录跟进</translation>
    </message>
    <message>
        <source>Primary</source>
        <translation>主要</translation>
    </message>
    <message>
        <source>Sync</source>
        <translation>同步</translation>
    </message>
    <message>
        <source>No contacts yet.</source>
        <translation>还没有联系人。</translation>
    </message>
    <message>
        <source>Add contact…</source>
        <translation>添加联系人…</translation>
    </message>
    <message>
        <source>No deals yet.</source>
        <translation>还没有商机。</translation>
    </message>
    <message>
        <source>Add deal…</source>
        <translation>添加商机…</translation>
    </message>
    <message>
        <source>This customer was changed elsewhere while you were editing. Your unsaved values are kept; {fields} also changed there — saving replaces that change with yours.</source>
        <translation>您编辑期间，该客户在别处被修改了。您未保存的内容已保留；{fields} 在别处也被修改——保存后将以您的修改为准。</translation>
    </message>
    <message>
        <source>This customer was changed elsewhere while you were editing. The other fields now show the new values; your unsaved edits ({fields}) are kept.</source>
        <translation>您编辑期间，该客户在别处被修改了。其他字段已显示新值；您未保存的修改（{fields}）已保留。</translation>
    </message>
    <message>
        <source>updated {when}</source>
        <translation>更新于 {when}</translation>
    </message>
    <message>
        <source>Level {level}</source>
        <translation>{level} 级</translation>
    </message>
    <message>
        <source>The server refused the last change to this customer. {reason}</source>
        <translation>服务器拒绝了对该客户的最近一次修改。{reason}</translation>
    </message>
    <message>
        <source>Your change and someone else's disagree; choose what to keep.</source>
        <translation>您的修改与他人的修改不一致，请选择保留哪个。</translation>
    </message>
    <message>
        <source>This customer has a sync conflict: your change and one made elsewhere disagree.</source>
        <translation>该客户存在同步冲突：您的修改与别处的修改不一致。</translation>
    </message>
    <message>
        <source>Resolve…</source>
        <translation>解决…</translation>
    </message>
    <message>
        <source>Changes are waiting to be sent to the server.</source>
        <translation>修改正在等待发送到服务器。</translation>
    </message>
    <message>
        <source>The server has this version.</source>
        <translation>服务器已有此版本。</translation>
    </message>
    <message>
        <source>This customer was deleted. It can no longer be edited.</source>
        <translation>该客户已被删除，无法再编辑。</translation>
    </message>
    <message>
        <source>This customer was deleted or is no longer shared with you. It can no longer be edited.</source>
        <translation>该客户已被删除或不再与您共享，无法再编辑。</translation>
    </message>
    <message>
        <source>Follow-ups ({count})</source>
        <translation>跟进记录（{count}）</translation>
    </message>
    <message>
        <source>Contacts ({count})</source>
        <translation>联系人（{count}）</translation>
    </message>
    <message>
        <source>Deals ({count})</source>
        <translation>商机（{count}）</translation>
    </message>
    <message>
        <source>Customer</source>
        <translation>客户</translation>
    </message>
    <message>
        <source>{name} (deleted)</source>
        <translation>{name}（已删除）</translation>
    </message>
    <message>
        <source>{name} *</source>
        <translation>{name} *</translation>
    </message>
</context>
<context>
    <name>DealDialog</name>
    <message>
        <source>New deal</source>
        <translation>新建商机</translation>
    </message>
    <message>
        <source>Edit deal</source>
        <translation>编辑商机</translation>
    </message>
</context>
<context>
    <name>DealTableModel</name>
    <message>
        <source>Whether the server has this deal's latest changes</source>
        <translation>服务器是否已有该商机的最新修改</translation>
    </message>
    <message>
        <source>The owner of the deal's customer</source>
        <translation>商机所属客户的负责人</translation>
    </message>
    <message>
        <source>Click to sort; F2 or a click on a selected stage changes it</source>
        <translation>点击排序；按 F2 或点击选中的阶段可修改</translation>
    </message>
    <message>
        <source>Click to sort by this column</source>
        <translation>点击按此列排序</translation>
    </message>
    <message>
        <source>Sync</source>
        <translation>同步</translation>
    </message>
    <message>
        <source>Probability</source>
        <translation>赢单概率</translation>
    </message>
    <message>
        <source>This deal was deleted in the meantime.</source>
        <translation>该商机已在此期间被删除。</translation>
    </message>
    <message>
        <source>Changed here; waiting to be sent to the server.</source>
        <translation>已在本机修改，等待发送到服务器。</translation>
    </message>
    <message>
        <source>Changed here and on the server: open it to choose what to keep.</source>
        <translation>本机和服务器上都修改过：请打开它选择保留哪个值。</translation>
    </message>
    <message>
        <source>The server refused the last change: {reason}</source>
        <translation>服务器拒绝了最近一次修改：{reason}</translation>
    </message>
    <message>
        <source>The server refused the last change.</source>
        <translation>服务器拒绝了最近一次修改。</translation>
    </message>
    <message>
        <source>The server has this deal's latest changes.</source>
        <translation>服务器已有该商机的最新修改。</translation>
    </message>
    <message>
        <source>Past its expected close and still open</source>
        <translation>已过预计成交日期且仍未关闭</translation>
    </message>
</context>
<context>
    <name>DealsPage</name>
    <message>
        <source>My deals</source>
        <translation>我的商机</translation>
    </message>
    <message>
        <source>Deals of the customers you own</source>
        <translation>您负责的客户的商机</translation>
    </message>
    <message>
        <source>Team</source>
        <translation>团队</translation>
    </message>
    <message>
        <source>Every deal you can see</source>
        <translation>您可见的所有商机</translation>
    </message>
    <message>
        <source>All stages</source>
        <translation>全部阶段</translation>
    </message>
    <message>
        <source>Open deals only</source>
        <translation>仅未关闭的商机</translation>
    </message>
    <message>
        <source>Leave out won and lost deals</source>
        <translation>不包括赢单和输单的商机</translation>
    </message>
    <message>
        <source>Open customer</source>
        <translation>打开客户</translation>
    </message>
    <message>
        <source>Edit deal…</source>
        <translation>编辑商机…</translation>
    </message>
    <message>
        <source>Move to next stage</source>
        <translation>推进到下一阶段</translation>
    </message>
    <message>
        <source>Move to previous stage</source>
        <translation>退回到上一阶段</translation>
    </message>
    <message>
        <source>Move to stage</source>
        <translation>移到阶段</translation>
    </message>
    <message>
        <source>Sign in to see which deals are yours</source>
        <translation>登录后可查看哪些商机属于您</translation>
    </message>
    <message>
        <source>1 deal</source>
        <translation>1 个商机</translation>
    </message>
    <message>
        <source>{count} deals</source>
        <translation>{count} 个商机</translation>
    </message>
    <message>
        <source>Open pipeline: {amount} in {count} deals · Won: {won}</source>
        <translation>进行中：{count} 个商机共 {amount} · 已赢单：{won}</translation>
    </message>
</context>
<context>
    <name>Entities</name>
    <message>
        <source>Customer</source>
        <translation>客户</translation>
    </message>
    <message>
        <source>Contact</source>
        <translation>联系人</translation>
    </message>
    <message>
        <source>Follow-up</source>
        <translation>跟进记录</translation>
    </message>
    <message>
        <source>Deal</source>
        <translation>商机</translation>
    </message>
    <message>
        <source>customer</source>
        <translation>客户</translation>
    </message>
    <message>
        <source>contact</source>
        <translation>联系人</translation>
    </message>
    <message>
        <source>follow-up</source>
        <translation>跟进记录</translation>
    </message>
    <message>
        <source>deal</source>
        <translation>商机</translation>
    </message>
</context>
<context>
    <name>FieldChoice</name>
    <message>
        <source>Keep mine</source>
        <translation>保留我的</translation>
    </message>
    <message>
        <source>Keep theirs</source>
        <translation>保留对方的</translation>
    </message>
    <message>
        <source>Merge</source>
        <translation>合并</translation>
    </message>
    <message>
        <source>Keep my {field}</source>
        <translation>保留我的{field}</translation>
    </message>
    <message>
        <source>Keep their {field}</source>
        <translation>保留对方的{field}</translation>
    </message>
    <message>
        <source>Merge {field}</source>
        <translation>合并{field}</translation>
    </message>
    <message>
        <source>Changed by {who} at {when}</source>
        <translation>由{who}于 {when} 修改</translation>
    </message>
    <message>
        <source>Changed by {who}</source>
        <translation>由{who}修改</translation>
    </message>
</context>
<context>
    <name>Fields</name>
    <message>
        <source>Address</source>
        <translation>地址</translation>
    </message>
    <message>
        <source>Amount</source>
        <translation>金额</translation>
    </message>
    <message>
        <source>City</source>
        <translation>城市</translation>
    </message>
    <message>
        <source>Company</source>
        <translation>公司</translation>
    </message>
    <message>
        <source>Contact</source>
        <translation>联系人</translation>
    </message>
    <message>
        <source>Content</source>
        <translation>内容</translation>
    </message>
    <message>
        <source>Created</source>
        <translation>创建时间</translation>
    </message>
    <message>
        <source>Currency</source>
        <translation>币种</translation>
    </message>
    <message>
        <source>Customer</source>
        <translation>客户</translation>
    </message>
    <message>
        <source>Deleted</source>
        <translation>已删除</translation>
    </message>
    <message>
        <source>Done</source>
        <translation>已完成</translation>
    </message>
    <message>
        <source>Email</source>
        <translation>邮箱</translation>
    </message>
    <message>
        <source>Expected close</source>
        <translation>预计成交日期</translation>
    </message>
    <message>
        <source>Happened at</source>
        <translation>发生时间</translation>
    </message>
    <message>
        <source>ID</source>
        <translation>ID</translation>
    </message>
    <message>
        <source>Industry</source>
        <translation>行业</translation>
    </message>
    <message>
        <source>Kind</source>
        <translation>方式</translation>
    </message>
    <message>
        <source>Level</source>
        <translation>级别</translation>
    </message>
    <message>
        <source>Mobile</source>
        <translation>手机</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>名称</translation>
    </message>
    <message>
        <source>Next action</source>
        <translation>下一步</translation>
    </message>
    <message>
        <source>Next action at</source>
        <translation>下一步时间</translation>
    </message>
    <message>
        <source>Next follow-up</source>
        <translation>下次跟进</translation>
    </message>
    <message>
        <source>Notes</source>
        <translation>备注</translation>
    </message>
    <message>
        <source>Owner</source>
        <translation>负责人</translation>
    </message>
    <message>
        <source>Phone</source>
        <translation>电话</translation>
    </message>
    <message>
        <source>Primary contact</source>
        <translation>主要联系人</translation>
    </message>
    <message>
        <source>Probability (%)</source>
        <translation>赢单概率 (%)</translation>
    </message>
    <message>
        <source>Source</source>
        <translation>来源</translation>
    </message>
    <message>
        <source>Stage</source>
        <translation>阶段</translation>
    </message>
    <message>
        <source>Status</source>
        <translation>状态</translation>
    </message>
    <message>
        <source>Tags</source>
        <translation>标签</translation>
    </message>
    <message>
        <source>Title</source>
        <translation>标题</translation>
    </message>
    <message>
        <source>Updated</source>
        <translation>更新时间</translation>
    </message>
    <message>
        <source>Updated by</source>
        <translation>更新人</translation>
    </message>
    <message>
        <source>Version</source>
        <translation>版本</translation>
    </message>
    <message>
        <source>WeChat</source>
        <translation>微信</translation>
    </message>
</context>
<context>
    <name>FollowUpLogBox</name>
    <message>
        <source>What happened? Ctrl+Enter logs it.</source>
        <translation>发生了什么？按 Ctrl+Enter 记录。</translation>
    </message>
    <message>
        <source>e.g. send the quote</source>
        <translation>例如：发送报价</translation>
    </message>
    <message>
        <source>Log follow-up</source>
        <translation>记录跟进</translation>
    </message>
    <message>
        <source>Log it now (Ctrl+Enter)</source>
        <translation>立即记录 (Ctrl+Enter)</translation>
    </message>
</context>
<context>
    <name>FollowUpTableModel</name>
    <message>
        <source>Sync</source>
        <translation>同步</translation>
    </message>
    <message>
        <source>Click to sort by this column</source>
        <translation>点击按此列排序</translation>
    </message>
</context>
<context>
    <name>FollowUpTimeline</name>
    <message>
        <source>Next: {action} · {when}</source>
        <translation>下一步：{action} · {when}</translation>
    </message>
    <message>
        <source>Next: {action}</source>
        <translation>下一步：{action}</translation>
    </message>
    <message>
        <source>Next follow-up: {when}</source>
        <translation>下次跟进：{when}</translation>
    </message>
    <message>
        <source>{text} (done)</source>
        <translation>{text}（已完成）</translation>
    </message>
    <message>
        <source>Follow-ups</source>
        <translation>跟进记录</translation>
    </message>
    <message>
        <source>No follow-ups yet. Log the first one above.</source>
        <translation>还没有跟进记录。请在上方记录第一条。</translation>
    </message>
</context>
<context>
    <name>FollowUpsPage</name>
    <message>
        <source>Customer: name, pinyin, initials or phone…</source>
        <translation>客户：姓名、拼音、首字母或电话…</translation>
    </message>
    <message>
        <source>All kinds</source>
        <translation>全部方式</translation>
    </message>
    <message>
        <source>Open and done</source>
        <translation>未完成和已完成</translation>
    </message>
    <message>
        <source>Open</source>
        <translation>未完成</translation>
    </message>
    <message>
        <source>Done</source>
        <translation>已完成</translation>
    </message>
    <message>
        <source>Any</source>
        <translation>不限</translation>
    </message>
    <message>
        <source>Happened on or after this day</source>
        <translation>在此日期或之后发生</translation>
    </message>
    <message>
        <source>Happened on or before this day</source>
        <translation>在此日期或之前发生</translation>
    </message>
    <message>
        <source>From</source>
        <translation>从</translation>
    </message>
    <message>
        <source>To</source>
        <translation>至</translation>
    </message>
    <message>
        <source>1 follow-up</source>
        <translation>1 条跟进记录</translation>
    </message>
    <message>
        <source>{count} follow-ups</source>
        <translation>{count} 条跟进记录</translation>
    </message>
</context>
<context>
    <name>LogFollowUpDialog</name>
    <message>
        <source>Log follow-up — {customer}</source>
        <translation>记录跟进 — {customer}</translation>
    </message>
    <message>
        <source>Log what happened for “{what}”. The item is then marked done.</source>
        <translation>记录“{what}”的情况，之后该事项会标记为已完成。</translation>
    </message>
    <message>
        <source>Log what happened. The item is then marked done.</source>
        <translation>记录发生的情况，之后该事项会标记为已完成。</translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message>
        <source>Outpost CRM</source>
        <translation>Outpost 客户管理</translation>
    </message>
    <message>
        <source>All customers</source>
        <translation>全部客户</translation>
    </message>
    <message>
        <source>Today</source>
        <translation>今日</translation>
    </message>
    <message>
        <source>Follow-ups</source>
        <translation>跟进记录</translation>
    </message>
    <message>
        <source>Deals</source>
        <translation>商机</translation>
    </message>
    <message>
        <source>Conflicts</source>
        <translation>冲突</translation>
    </message>
    <message>
        <source>Customers</source>
        <translation>客户</translation>
    </message>
    <message>
        <source>&amp;File</source>
        <translation>文件(&amp;F)</translation>
    </message>
    <message>
        <source>&amp;New customer…</source>
        <translation>新建客户(&amp;N)…</translation>
    </message>
    <message>
        <source>&amp;Sync now</source>
        <translation>立即同步(&amp;S)</translation>
    </message>
    <message>
        <source>Work &amp;offline</source>
        <translation>离线工作(&amp;O)</translation>
    </message>
    <message>
        <source>Sign &amp;in…</source>
        <translation>登录(&amp;I)…</translation>
    </message>
    <message>
        <source>Sign o&amp;ut</source>
        <translation>退出登录(&amp;U)</translation>
    </message>
    <message>
        <source>Se&amp;ttings…</source>
        <translation>设置(&amp;T)…</translation>
    </message>
    <message>
        <source>&amp;Quit</source>
        <translation>退出(&amp;Q)</translation>
    </message>
    <message>
        <source>&amp;Edit</source>
        <translation>编辑(&amp;E)</translation>
    </message>
    <message>
        <source>&amp;Find customers</source>
        <translation>查找客户(&amp;F)</translation>
    </message>
    <message>
        <source>&amp;Go</source>
        <translation>转到(&amp;G)</translation>
    </message>
    <message>
        <source>&amp;Help</source>
        <translation>帮助(&amp;H)</translation>
    </message>
    <message>
        <source>Open &amp;log folder</source>
        <translation>打开日志文件夹(&amp;L)</translation>
    </message>
    <message>
        <source>&amp;About Outpost</source>
        <translation>关于 Outpost(&amp;A)</translation>
    </message>
    <message>
        <source>Working offline: turn off File → Work offline to sync.</source>
        <translation>正在离线工作：关闭“文件 → 离线工作”后即可同步。</translation>
    </message>
    <message>
        <source>Customer</source>
        <translation>客户</translation>
    </message>
    <message>
        <source>Unsaved changes</source>
        <translation>未保存的修改</translation>
    </message>
    <message>
        <source>Save your changes to this customer?</source>
        <translation>是否保存对该客户的修改？</translation>
    </message>
    <message>
        <source>Log folder</source>
        <translation>日志文件夹</translation>
    </message>
    <message>
        <source>Outpost's log files are in:
{folder}</source>
        <translation>Outpost 的日志文件位于：
{folder}</translation>
    </message>
    <message>
        <source>About Outpost</source>
        <translation>关于 Outpost</translation>
    </message>
    <message>
        <source>&lt;b&gt;Outpost CRM&lt;/b&gt; {version}&lt;br&gt;An offline-first CRM: your customers stay on this computer and sync with your company's server when it can be reached.&lt;br&gt;&lt;br&gt;Local data: {path}</source>
        <translation>&lt;b&gt;Outpost 客户管理&lt;/b&gt; {version}&lt;br&gt;离线优先的客户管理系统：客户数据保存在本机，能连上公司服务器时自动同步。&lt;br&gt;&lt;br&gt;本地数据：{path}</translation>
    </message>
</context>
<context>
    <name>MessageBar</name>
    <message>
        <source>Dismiss</source>
        <translation>关闭</translation>
    </message>
</context>
<context>
    <name>Money</name>
    <message>
        <source>{amount} {currency}</source>
        <translation>{amount} {currency}</translation>
    </message>
</context>
<context>
    <name>OptionalDateTimeEdit</name>
    <message>
        <source>Set a date</source>
        <translation>设置日期</translation>
    </message>
    <message>
        <source>No date</source>
        <translation>无日期</translation>
    </message>
</context>
<context>
    <name>OutpostApp</name>
    <message>
        <source>Outpost cannot open your data</source>
        <translation>Outpost 无法打开您的数据</translation>
    </message>
    <message>
        <source>The local database of this profile cannot be opened.</source>
        <translation>无法打开此配置的本地数据库。</translation>
    </message>
    <message>
        <source>Nothing was changed. Your edits waiting to be sent are still in the file; keep it, and ask your administrator for help.</source>
        <translation>没有做任何改动。等待发送的修改仍保存在该文件中；请保留该文件，并联系管理员寻求帮助。</translation>
    </message>
    <message>
        <source>Demo</source>
        <translation>演示</translation>
    </message>
    <message>
        <source>This profile is not signed in to a server.</source>
        <translation>此配置尚未登录服务器。</translation>
    </message>
    <message>
        <source>No system keyring is available, so Outpost cannot stay signed in. Sign in for this session.</source>
        <translation>系统密钥环不可用，Outpost 无法保持登录状态。请为本次会话登录。</translation>
    </message>
    <message>
        <source>Sign in to sync your edits.</source>
        <translation>登录后即可同步您的修改。</translation>
    </message>
    <message>
        <source>The demo server could not start: {reason}</source>
        <translation>演示服务器无法启动：{reason}</translation>
    </message>
    <message>
        <source>No system keyring is available ({reason}): you are signed in for this session only, and will be asked again next time. Your password was not saved anywhere.</source>
        <translation>系统密钥环不可用（{reason}）：本次登录仅在当前会话有效，下次启动时会再次询问。您的密码没有保存在任何地方。</translation>
    </message>
    <message>
        <source>Signed in for this session</source>
        <translation>已为本次会话登录</translation>
    </message>
    <message>
        <source>Sign out</source>
        <translation>退出登录</translation>
    </message>
    <message>
        <source>Sign out of {server}? Your local data and edits waiting to be sent stay on this computer and are sent after you sign in again.</source>
        <translation>要退出 {server} 吗？本地数据和等待发送的修改会保留在本机，重新登录后再发送。</translation>
    </message>
    <message>
        <source>Signed out.</source>
        <translation>已退出登录。</translation>
    </message>
    <message>
        <source>Language</source>
        <translation>语言</translation>
    </message>
    <message>
        <source>The new language is used when Outpost starts again.</source>
        <translation>新的语言将在 Outpost 重新启动后使用。</translation>
    </message>
    <message>
        <source>Restart now</source>
        <translation>立即重启</translation>
    </message>
    <message>
        <source>Later</source>
        <translation>稍后</translation>
    </message>
</context>
<context>
    <name>PipelineChart</name>
    <message>
        <source>No deals</source>
        <translation>没有商机</translation>
    </message>
    <message>
        <source>1 deal</source>
        <translation>1 个商机</translation>
    </message>
    <message>
        <source>{count} deals</source>
        <translation>{count} 个商机</translation>
    </message>
    <message>
        <source>{deals} · {amount}</source>
        <translation>{deals} · {amount}</translation>
    </message>
    <message>
        <source>(+{count} in other currencies)</source>
        <translation>（另有 {count} 个其他币种）</translation>
    </message>
    <message>
        <source>{amount} in 1 deal</source>
        <translation>1 个商机共 {amount}</translation>
    </message>
    <message>
        <source>{amount} in {count} deals</source>
        <translation>{count} 个商机共 {amount}</translation>
    </message>
    <message>
        <source>Click to show every stage again</source>
        <translation>点击重新显示所有阶段</translation>
    </message>
    <message>
        <source>Click to list only these deals</source>
        <translation>点击仅列出这些商机</translation>
    </message>
    <message>
        <source>Bar length: amount in {currency}</source>
        <translation>条形长度：以 {currency} 计的金额</translation>
    </message>
    <message>
        <source>Also: {amounts}</source>
        <translation>另有：{amounts}</translation>
    </message>
    <message>
        <source>No deals of your customers yet</source>
        <translation>您的客户还没有商机</translation>
    </message>
    <message>
        <source>No deals yet</source>
        <translation>还没有商机</translation>
    </message>
</context>
<context>
    <name>RecordDialog</name>
    <message>
        <source>Add</source>
        <translation>添加</translation>
    </message>
    <message>
        <source>Save</source>
        <translation>保存</translation>
    </message>
    <message>
        <source>This record was deleted meanwhile; it can no longer be edited.</source>
        <translation>该记录已在此期间被删除，无法再编辑。</translation>
    </message>
</context>
<context>
    <name>RecordForm</name>
    <message>
        <source>Required</source>
        <translation>必填</translation>
    </message>
    <message>
        <source>Separate tags with commas</source>
        <translation>多个标签用逗号分隔</translation>
    </message>
</context>
<context>
    <name>Reminders</name>
    <message>
        <source>Outpost CRM</source>
        <translation>Outpost 客户管理</translation>
    </message>
    <message>
        <source>Follow-up due</source>
        <translation>跟进到期</translation>
    </message>
    <message>
        <source>{count} follow-ups due</source>
        <translation>{count} 条跟进到期</translation>
    </message>
    <message>
        <source>and {count} more</source>
        <translation>还有 {count} 条</translation>
    </message>
    <message>
        <source>Follow up</source>
        <translation>跟进</translation>
    </message>
    <message>
        <source>{time} {customer}: {what}</source>
        <translation>{time} {customer}：{what}</translation>
    </message>
</context>
<context>
    <name>SettingsDialog</name>
    <message>
        <source>Settings</source>
        <translation>设置</translation>
    </message>
    <message>
        <source>https://crm.example.com:8750</source>
        <translation>https://crm.example.com:8750</translation>
    </message>
    <message>
        <source>Change it only when your company's server moved to a new address.</source>
        <translation>仅在公司服务器迁移到新地址时修改。</translation>
    </message>
    <message>
        <source> min</source>
        <translation> 分钟</translation>
    </message>
    <message>
        <source>System language</source>
        <translation>跟随系统</translation>
    </message>
    <message>
        <source>none: the system's certificate authorities</source>
        <translation>无：使用系统的证书颁发机构</translation>
    </message>
    <message>
        <source>Server:</source>
        <translation>服务器：</translation>
    </message>
    <message>
        <source>Sync every:</source>
        <translation>同步间隔：</translation>
    </message>
    <message>
        <source>Language:</source>
        <translation>语言：</translation>
    </message>
    <message>
        <source>Company CA file:</source>
        <translation>公司 CA 证书：</translation>
    </message>
    <message>
        <source>A new language applies when Outpost starts again.</source>
        <translation>新的语言将在 Outpost 重新启动后生效。</translation>
    </message>
    <message>
        <source>not signed in</source>
        <translation>未登录</translation>
    </message>
    <message>
        <source>Enter the server address, e.g. https://crm.example.com:8750</source>
        <translation>请输入服务器地址，例如 https://crm.example.com:8750</translation>
    </message>
    <message>
        <source>The CA file cannot be used: {reason}</source>
        <translation>无法使用该 CA 证书：{reason}</translation>
    </message>
</context>
<context>
    <name>SignInDialog</name>
    <message>
        <source>Sign in to Outpost</source>
        <translation>登录 Outpost</translation>
    </message>
    <message>
        <source>Sign in to your company's Outpost server</source>
        <translation>登录公司的 Outpost 服务器</translation>
    </message>
    <message>
        <source>Your customers are kept on this computer, so you can work offline. Signing in lets Outpost send your edits and fetch your colleagues'.</source>
        <translation>您的客户数据保存在本机，离线也能工作。登录后，Outpost 会发送您的修改并获取同事的修改。</translation>
    </message>
    <message>
        <source>https://crm.example.com:8750</source>
        <translation>https://crm.example.com:8750</translation>
    </message>
    <message>
        <source>your user name</source>
        <translation>您的用户名</translation>
    </message>
    <message>
        <source>Remember me on this computer</source>
        <translation>在此电脑上记住我</translation>
    </message>
    <message>
        <source>Keeps a sign-in token in the system keyring (never the password).</source>
        <translation>在系统密钥环中保存登录令牌（绝不保存密码）。</translation>
    </message>
    <message>
        <source>only if your company uses its own CA</source>
        <translation>仅当公司使用自有 CA 时需要</translation>
    </message>
    <message>
        <source>Server:</source>
        <translation>服务器：</translation>
    </message>
    <message>
        <source>User:</source>
        <translation>用户：</translation>
    </message>
    <message>
        <source>Password:</source>
        <translation>密码：</translation>
    </message>
    <message>
        <source>Company CA file:</source>
        <translation>公司 CA 证书：</translation>
    </message>
    <message>
        <source>Sign in</source>
        <translation>登录</translation>
    </message>
    <message>
        <source>Enter the server address, e.g. https://crm.example.com:8750</source>
        <translation>请输入服务器地址，例如 https://crm.example.com:8750</translation>
    </message>
    <message>
        <source>Enter your user name.</source>
        <translation>请输入用户名。</translation>
    </message>
    <message>
        <source>Enter your password.</source>
        <translation>请输入密码。</translation>
    </message>
    <message>
        <source>The CA file cannot be used: {reason}</source>
        <translation>无法使用该 CA 证书：{reason}</translation>
    </message>
    <message>
        <source>Wrong user name or password.</source>
        <translation>用户名或密码错误。</translation>
    </message>
    <message>
        <source>The server's certificate is not trusted. If your company uses its own certificate authority, choose its CA file below.</source>
        <translation>服务器的证书不受信任。如果公司使用自有证书颁发机构，请在下方选择其 CA 证书文件。</translation>
    </message>
    <message>
        <source>Too many attempts. Wait {seconds} seconds and try again.</source>
        <translation>尝试次数过多。请等待 {seconds} 秒后再试。</translation>
    </message>
    <message>
        <source>Cannot reach the server at {server}. Check the address and your connection.</source>
        <translation>无法连接服务器 {server}。请检查地址和网络连接。</translation>
    </message>
    <message>
        <source>This profile belongs to another account: {reason}</source>
        <translation>此配置属于另一个账户：{reason}</translation>
    </message>
    <message>
        <source>The server refused the sign-in: {reason}</source>
        <translation>服务器拒绝了登录：{reason}</translation>
    </message>
    <message>
        <source>Signing in failed: {reason}</source>
        <translation>登录失败：{reason}</translation>
    </message>
</context>
<context>
    <name>SyncController</name>
    <message>
        <source>Sign in again to sync (your edits are kept).</source>
        <translation>请重新登录以同步（您的修改已保留）。</translation>
    </message>
    <message>
        <source>The server's security certificate is not trusted, so Outpost did not connect. Your edits are kept. Ask your administrator for the company's certificate file.</source>
        <translation>服务器的安全证书不受信任，Outpost 未建立连接。您的修改已保留。请向管理员索取公司的证书文件。</translation>
    </message>
    <message>
        <source>The server did not answer in time. Your edits are kept and will be sent when it answers again.</source>
        <translation>服务器没有及时响应。您的修改已保留，将在服务器恢复响应后发送。</translation>
    </message>
    <message>
        <source>The server is busy or has a problem right now. Your edits are kept and Outpost will try again shortly.</source>
        <translation>服务器繁忙或出现问题。您的修改已保留，Outpost 稍后会重试。</translation>
    </message>
    <message>
        <source>The server cannot be reached. Your edits are kept and will be sent when it is back.</source>
        <translation>无法连接服务器。您的修改已保留，将在服务器恢复后发送。</translation>
    </message>
    <message>
        <source>The server sent a reply Outpost does not understand. Nothing was changed and your edits are kept; Outpost or the server may need an update.</source>
        <translation>服务器返回了 Outpost 无法识别的回复。没有做任何改动，您的修改已保留；Outpost 或服务器可能需要更新。</translation>
    </message>
    <message>
        <source>The server refused the sync request. Your edits are kept; show the details to your administrator.</source>
        <translation>服务器拒绝了同步请求。您的修改已保留；请将详细信息提供给管理员。</translation>
    </message>
    <message>
        <source>Sync failed. Your edits are kept and Outpost will try again.</source>
        <translation>同步失败。您的修改已保留，Outpost 会再次尝试。</translation>
    </message>
    <message>
        <source>Sync stopped because of a problem on this computer (for example a full disk). Your edits are kept.</source>
        <translation>由于本机出现问题（例如磁盘已满），同步已停止。您的修改已保留。</translation>
    </message>
    <message>
        <source>Sign in to sync your edits.</source>
        <translation>登录后即可同步您的修改。</translation>
    </message>
</context>
<context>
    <name>SyncState</name>
    <message>
        <source>Synced</source>
        <translation>已同步</translation>
    </message>
    <message>
        <source>Pending</source>
        <translation>待发送</translation>
    </message>
    <message>
        <source>Conflict</source>
        <translation>冲突</translation>
    </message>
    <message>
        <source>Failed</source>
        <translation>失败</translation>
    </message>
</context>
<context>
    <name>SyncStatusBar</name>
    <message>
        <source>Details…</source>
        <translation>详细信息…</translation>
    </message>
    <message>
        <source>What exactly went wrong</source>
        <translation>具体出了什么问题</translation>
    </message>
    <message>
        <source>Sign in…</source>
        <translation>登录…</translation>
    </message>
    <message>
        <source>Open the conflicts to decide them</source>
        <translation>打开冲突列表进行处理</translation>
    </message>
    <message>
        <source>{done} of {total} records</source>
        <translation>{done} / {total} 条记录</translation>
    </message>
    <message>
        <source>{done} records</source>
        <translation>{done} 条记录</translation>
    </message>
    <message>
        <source>Online</source>
        <translation>在线</translation>
    </message>
    <message>
        <source>Syncing…</source>
        <translation>正在同步…</translation>
    </message>
    <message>
        <source>Sign in needed</source>
        <translation>需要登录</translation>
    </message>
    <message>
        <source>Sync error</source>
        <translation>同步出错</translation>
    </message>
    <message>
        <source>Working offline</source>
        <translation>离线工作中</translation>
    </message>
    <message>
        <source>Offline</source>
        <translation>离线</translation>
    </message>
    <message>
        <source>Work offline is on: nothing is sent or received until you turn it off.</source>
        <translation>已开启离线工作：关闭之前不会发送或接收任何数据。</translation>
    </message>
    <message>
        <source>The server cannot be reached; Outpost keeps trying.</source>
        <translation>无法连接服务器；Outpost 会继续尝试。</translation>
    </message>
    <message>
        <source>Sign in to sync; your edits are kept meanwhile.</source>
        <translation>登录后即可同步；在此期间您的修改会保留。</translation>
    </message>
    <message>
        <source>The last sync failed; Outpost keeps trying.</source>
        <translation>上次同步失败；Outpost 会继续尝试。</translation>
    </message>
    <message>
        <source>Connected to the server.</source>
        <translation>已连接服务器。</translation>
    </message>
    <message>
        <source>All edits sent</source>
        <translation>所有修改已发送</translation>
    </message>
    <message>
        <source>{count} pending</source>
        <translation>{count} 条待发送</translation>
    </message>
    <message>
        <source>{count} pending, {failed} refused</source>
        <translation>{count} 条待发送，{failed} 条被拒绝</translation>
    </message>
    <message>
        <source>Edits waiting to be sent: {pending}
Refused by the server: {failed} (open those records to correct them)</source>
        <translation>等待发送的修改：{pending}
被服务器拒绝：{failed}（请打开这些记录进行修正）</translation>
    </message>
    <message>
        <source>1 conflict</source>
        <translation>1 个冲突</translation>
    </message>
    <message>
        <source>{count} conflicts</source>
        <translation>{count} 个冲突</translation>
    </message>
    <message>
        <source>Never synced</source>
        <translation>从未同步</translation>
    </message>
    <message>
        <source>Last sync: just now</source>
        <translation>上次同步：刚刚</translation>
    </message>
    <message>
        <source>Last sync: {minutes} min ago</source>
        <translation>上次同步：{minutes} 分钟前</translation>
    </message>
    <message>
        <source>Last sync: {time}</source>
        <translation>上次同步：{time}</translation>
    </message>
    <message>
        <source>Last sync: {date}</source>
        <translation>上次同步：{date}</translation>
    </message>
    <message>
        <source>Last successful sync: {when}</source>
        <translation>上次成功同步：{when}</translation>
    </message>
    <message>
        <source>Sync problem</source>
        <translation>同步问题</translation>
    </message>
</context>
<context>
    <name>TodayPage</name>
    <message>
        <source>Today</source>
        <translation>今日</translation>
    </message>
    <message>
        <source>Nothing due today.</source>
        <translation>今天没有到期事项。</translation>
    </message>
    <message>
        <source>Overdue</source>
        <translation>已逾期</translation>
    </message>
    <message>
        <source>This week</source>
        <translation>本周</translation>
    </message>
    <message>
        <source>You are all caught up.</source>
        <translation>所有事项都已处理完毕。</translation>
    </message>
    <message>
        <source>{overdue} overdue · {today} today · {week} in the next 7 days</source>
        <translation>已逾期 {overdue} · 今天 {today} · 未来 7 天 {week}</translation>
    </message>
    <message>
        <source>Nothing due today. Coming up this week:</source>
        <translation>今天没有到期事项。本周即将到期：</translation>
    </message>
    <message>
        <source>and {count} more — see Follow-ups</source>
        <translation>还有 {count} 条 — 请查看跟进记录</translation>
    </message>
</context>
<context>
    <name>ValidationMessages</name>
    <message>
        <source>Choose yes or no.</source>
        <translation>请选择是或否。</translation>
    </message>
    <message>
        <source>This field is required.</source>
        <translation>此项为必填。</translation>
    </message>
    <message>
        <source>Each tag can have at most {limit} characters.</source>
        <translation>每个标签最多 {limit} 个字符。</translation>
    </message>
    <message>
        <source>At most {limit} characters are allowed.</source>
        <translation>最多允许 {limit} 个字符。</translation>
    </message>
    <message>
        <source>This text is too long.</source>
        <translation>文本太长。</translation>
    </message>
    <message>
        <source>At most {limit} tags are allowed.</source>
        <translation>最多允许 {limit} 个标签。</translation>
    </message>
    <message>
        <source>Enter an email address such as name@example.com.</source>
        <translation>请输入邮箱地址，例如 name@example.com。</translation>
    </message>
    <message>
        <source>Enter a phone number such as 138 0013 8000.</source>
        <translation>请输入电话号码，例如 138 0013 8000。</translation>
    </message>
    <message>
        <source>Separate tags with commas; a tag cannot contain line breaks.</source>
        <translation>多个标签用逗号分隔；标签不能包含换行。</translation>
    </message>
    <message>
        <source>This text contains control characters.</source>
        <translation>文本中含有控制字符。</translation>
    </message>
    <message>
        <source>Enter a single line of text.</source>
        <translation>请输入单行文本。</translation>
    </message>
    <message>
        <source>Choose one of the listed values.</source>
        <translation>请从列表中选择一个值。</translation>
    </message>
    <message>
        <source>Enter a three-letter currency code such as CNY.</source>
        <translation>请输入三个字母的币种代码，例如 CNY。</translation>
    </message>
    <message>
        <source>Enter an amount with at most two decimals, such as 12500.00.</source>
        <translation>请输入最多两位小数的金额，例如 12500.00。</translation>
    </message>
    <message>
        <source>Enter a valid date.</source>
        <translation>请输入有效日期。</translation>
    </message>
    <message>
        <source>This value cannot be saved ({code}).</source>
        <translation>无法保存此值（{code}）。</translation>
    </message>
    <message>
        <source>The customer no longer exists.</source>
        <translation>该客户已不存在。</translation>
    </message>
    <message>
        <source>This value is out of range.</source>
        <translation>此值超出范围。</translation>
    </message>
    <message>
        <source>Enter a date between 1900 and 2999.</source>
        <translation>请输入 1900 至 2999 年之间的日期。</translation>
    </message>
    <message>
        <source>Enter a value from {low} to {high}.</source>
        <translation>请输入 {low} 到 {high} 之间的值。</translation>
    </message>
    <message>
        <source>Enter a value of at least {low}.</source>
        <translation>请输入不小于 {low} 的值。</translation>
    </message>
    <message>
        <source>Enter a value of at most {high}.</source>
        <translation>请输入不大于 {high} 的值。</translation>
    </message>
    <message>
        <source>Enter a whole number.</source>
        <translation>请输入整数。</translation>
    </message>
    <message>
        <source>Enter tags separated by commas.</source>
        <translation>请输入用逗号分隔的标签。</translation>
    </message>
    <message>
        <source>This value has the wrong form.</source>
        <translation>此值格式不正确。</translation>
    </message>
    <message>
        <source>The server refused this change.</source>
        <translation>服务器拒绝了此修改。</translation>
    </message>
    <message>
        <source>You are not allowed to make this change.</source>
        <translation>您无权进行此修改。</translation>
    </message>
    <message>
        <source>The record no longer exists on the server.</source>
        <translation>该记录在服务器上已不存在。</translation>
    </message>
    <message>
        <source>Its customer was deleted on the server.</source>
        <translation>其所属客户已在服务器上被删除。</translation>
    </message>
    <message>
        <source>Its customer does not exist on the server.</source>
        <translation>其所属客户在服务器上不存在。</translation>
    </message>
    <message>
        <source>Some values are invalid.</source>
        <translation>部分值无效。</translation>
    </message>
    <message>
        <source>The owner is not an active user.</source>
        <translation>负责人不是有效用户。</translation>
    </message>
    <message>
        <source>A record with the same id already exists.</source>
        <translation>已存在相同 ID 的记录。</translation>
    </message>
    <message>
        <source>{sentence} Details: {detail}</source>
        <translation>{sentence} 详情：{detail}</translation>
    </message>
</context>
<context>
    <name>ValueBox</name>
    <message>
        <source>(empty)</source>
        <translation>（空）</translation>
    </message>
</context>
<context>
    <name>_OwnerCombo</name>
    <message>
        <source>All owners</source>
        <translation>全部负责人</translation>
    </message>
    <message>
        <source>{owner} (me)</source>
        <translation>{owner}（我）</translation>
    </message>
</context>
<context>
    <name>page</name>
    <message>
        <source>(no name)</source>
        <translation>（无名称）</translation>
    </message>
    <message>
        <source>Open this customer</source>
        <translation>打开此客户</translation>
    </message>
    <message>
        <source>Follow up</source>
        <translation>跟进</translation>
    </message>
    <message>
        <source>Done</source>
        <translation>已完成</translation>
    </message>
    <message>
        <source>Mark it done</source>
        <translation>标记为已完成</translation>
    </message>
    <message>
        <source>Log follow-up…</source>
        <translation>记录跟进…</translation>
    </message>
    <message>
        <source>Log what happened and mark it done</source>
        <translation>记录情况并标记为已完成</translation>
    </message>
</context>
</TS>